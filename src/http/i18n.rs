//! The words on propusk's pages, in Russian (first) and English.
//!
//! Every text is a field of [`Texts`], so a page cannot compile with a message missing
//! in one language.

use crate::domain::account::{AccountStatus, Role};
use crate::domain::password::PasswordProblem;
use crate::domain::session::SignInOutcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ru,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Ru => Lang::En,
            Lang::En => Lang::Ru,
        }
    }

    pub fn from_code(s: &str) -> Option<Lang> {
        match s {
            "ru" => Some(Lang::Ru),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first of Russian or English in an `Accept-Language` header, by weight;
    /// Russian when neither is there.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = it.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            let lang = match tag.split('-').next() {
                Some("ru") => Lang::Ru,
                Some("en") => Lang::En,
                _ => continue,
            };
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::Ru, |(_, l)| l)
    }

    pub fn t(self) -> &'static Texts {
        match self {
            Lang::Ru => &RU,
            Lang::En => &EN,
        }
    }
}

pub struct Texts {
    pub product: &'static str,
    pub tagline: &'static str,
    pub skip_to_content: &'static str,
    pub switch_language: &'static str,
    pub sign_in_title: &'static str,
    pub sign_in_intro: &'static str,
    pub login: &'static str,
    pub login_hint: &'static str,
    pub password: &'static str,
    pub sign_in_button: &'static str,
    pub invalid_credentials: &'static str,
    pub issued_expired: &'static str,
    pub busy: &'static str,
    pub sign_out: &'static str,
    pub signed_out: &'static str,
    pub account_title: &'static str,
    pub profile: &'static str,
    pub full_name: &'static str,
    pub email: &'static str,
    pub roles: &'static str,
    pub study_group: &'static str,
    pub department: &'static str,
    pub not_set: &'static str,
    pub previous_sign_in: &'static str,
    pub previous_sign_in_none: &'static str,
    pub failures_since_none: &'static str,
    pub failures_since_some: &'static str,
    pub failures_warning: &'static str,
    pub sessions: &'static str,
    pub session_started: &'static str,
    pub session_last_seen: &'static str,
    pub address: &'static str,
    pub device: &'static str,
    pub this_session: &'static str,
    pub end_session: &'static str,
    pub end_other_sessions: &'static str,
    pub session_ended: &'static str,
    pub other_sessions_ended: &'static str,
    pub recent_sign_ins: &'static str,
    pub time: &'static str,
    pub result: &'static str,
    pub unknown: &'static str,
    pub change_password: &'static str,
    pub must_change_password: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub confirm_password: &'static str,
    pub password_rules: &'static str,
    pub password_changed: &'static str,
    pub wrong_current_password: &'static str,
    pub back_to_account: &'static str,
    pub error_title: &'static str,
    pub bad_request: &'static str,
    pub csrf_failed: &'static str,
    pub not_found: &'static str,
    pub forbidden: &'static str,
    pub too_large: &'static str,
    pub unavailable: &'static str,
    pub directory_unavailable: &'static str,
    pub directory_password_expired: &'static str,
    pub internal: &'static str,
    pub go_to_sign_in: &'static str,
    pub contact_admin: &'static str,
    pub bad_logout: &'static str,
    pub unknown_client: &'static str,
    pub bad_redirect_uri: &'static str,
    pub refused_title: &'static str,
    pub refused_text: &'static str,
    pub refused_contact: &'static str,
    pub handoff_refused: &'static str,
    // The version for the visually impaired and the rules of the environment.
    pub low_vision_on: &'static str,
    pub low_vision_off: &'static str,
    pub rules_title: &'static str,
    pub rules_intro: &'static str,
    pub rules_changed: &'static str,
    pub rules_version: &'static str,
    pub rules_translation: &'static str,
    pub rules_no_translation: &'static str,
    pub rules_accept: &'static str,
    pub rules_decline: &'static str,
    pub rules_declined: &'static str,
    pub rules_stale: &'static str,
    pub launcher: &'static str,
    pub launcher_empty: &'static str,
    pub new_tab: &'static str,
    pub logout_title: &'static str,
    pub logout_question: &'static str,
    pub logout_button: &'static str,
    pub cancel: &'static str,
    pub too_many_attempts: &'static str,
    pub compromised_title: &'static str,
    pub compromised_intro: &'static str,
    pub lock_code: &'static str,
    pub lock_code_hint: &'static str,
    pub compromised_button: &'static str,
    pub compromised_done: &'static str,
    pub compromised_link: &'static str,
    pub compromised_confirm: &'static str,
}

pub static RU: Texts = Texts {
    product: "Пропуск",
    tagline: "Единый вход в электронную информационно-образовательную среду колледжа",
    skip_to_content: "Перейти к содержимому",
    switch_language: "English",
    sign_in_title: "Вход",
    sign_in_intro: "Войдите один раз, чтобы пользоваться всеми ресурсами колледжа, доступными вам.",
    login: "Логин",
    login_hint: "Логин выдан вам при регистрации, например ivanov.ii",
    password: "Пароль",
    sign_in_button: "Войти",
    invalid_credentials: "Неверный логин или пароль.",
    issued_expired: "Срок действия выданного пароля истёк. Обратитесь к ответственному за ЭИОС за новым паролем.",
    busy: "Сервер сейчас перегружен. Повторите попытку через несколько секунд.",
    sign_out: "Выйти",
    signed_out: "Вы вышли из системы.",
    account_title: "Личный кабинет",
    profile: "Профиль",
    full_name: "ФИО",
    email: "Электронная почта",
    roles: "Роли",
    study_group: "Учебная группа",
    department: "Подразделение",
    not_set: "не указано",
    previous_sign_in: "Предыдущий вход",
    previous_sign_in_none: "Это ваш первый вход.",
    failures_since_none: "Неудачных попыток входа с тех пор не было.",
    failures_since_some: "Неудачных попыток входа с тех пор",
    failures_warning: "Если это были не вы, смените пароль и завершите другие сеансы.",
    sessions: "Активные сеансы",
    session_started: "Начат",
    session_last_seen: "Последняя активность",
    address: "Адрес",
    device: "Устройство",
    this_session: "этот сеанс",
    end_session: "Завершить",
    end_other_sessions: "Завершить все другие сеансы",
    session_ended: "Сеанс завершён.",
    other_sessions_ended: "Все другие сеансы завершены.",
    recent_sign_ins: "Последние входы",
    time: "Время",
    result: "Результат",
    unknown: "неизвестно",
    change_password: "Сменить пароль",
    must_change_password: "Вы вошли с выданным паролем. Придумайте свой пароль, чтобы продолжить.",
    current_password: "Текущий пароль",
    new_password: "Новый пароль",
    confirm_password: "Новый пароль ещё раз",
    password_rules: "Не короче 8 символов; не распространённый пароль; без логина и частей имени. Удобно взять несколько слов через дефис.",
    password_changed: "Пароль изменён. Другие сеансы завершены.",
    wrong_current_password: "Текущий пароль указан неверно.",
    back_to_account: "Вернуться в личный кабинет",
    error_title: "Ошибка",
    bad_request: "Запрос не удалось обработать. Проверьте введённые данные и повторите попытку.",
    csrf_failed: "Форма устарела или отправлена с другого сайта. Обновите страницу и повторите попытку.",
    not_found: "Страница не найдена.",
    forbidden: "Это действие не разрешено вашей роли. Попытка записана в журнал.",
    too_large: "Отправлено слишком много данных.",
    unavailable: "Сервис временно недоступен. Повторите попытку позже.",
    directory_unavailable: "Каталог учётных записей колледжа (LDAP) не отвечает, поэтому вход временно закрыт. Повторите попытку позже.",
    directory_password_expired: "Срок действия вашего пароля в каталоге колледжа истёк. Смените его обычным для колледжа способом или обратитесь к ответственному за ЭИОС.",
    internal: "Произошла внутренняя ошибка. Мы уже знаем о ней; повторите попытку позже.",
    go_to_sign_in: "Перейти ко входу",
    contact_admin: "Если не получается войти, обратитесь к ответственному за ЭИОС.",
    bad_logout: "Запрос на выход составлен неверно: адрес возврата не зарегистрирован. Закройте вкладку или перейдите в личный кабинет.",
    unknown_client: "Приложение, которое направило вас сюда, не зарегистрировано в системе единого входа. Сообщите об этом ответственному за ЭИОС.",
    bad_redirect_uri: "Приложение указало незарегистрированный адрес возврата. Из соображений безопасности переход не выполнен. Сообщите об этом ответственному за ЭИОС.",
    refused_title: "Доступ не предоставлен",
    refused_text: "У вашей учётной записи нет доступа к ресурсу",
    refused_contact: "По вопросам доступа к этому ресурсу обращайтесь",
    handoff_refused: "Ссылка для входа в приложение устарела, уже использована или предназначена для другого сайта. Откройте приложение ещё раз.",
    low_vision_on: "Версия для слабовидящих",
    low_vision_off: "Обычная версия сайта",
    rules_title: "Правила работы в ЭИОС",
    rules_intro: "Прежде чем продолжить, прочитайте правила работы в электронной информационно-образовательной среде и подтвердите, что принимаете их.",
    rules_changed: "Правила работы в ЭИОС изменились. Прочитайте новую редакцию и подтвердите, что принимаете её.",
    rules_version: "Редакция",
    rules_translation: "",
    rules_no_translation: "",
    rules_accept: "Принимаю правила",
    rules_decline: "Не принимаю и выхожу",
    rules_declined: "Вы не приняли правила работы в ЭИОС, поэтому вышли из системы. Чтобы пользоваться ресурсами колледжа, войдите снова и примите правила.",
    rules_stale: "Пока вы читали, правила изменились. Прочитайте новую редакцию.",
    launcher: "Мои ресурсы",
    launcher_empty: "Вам пока не доступен ни один ресурс. Обратитесь к ответственному за ЭИОС.",
    new_tab: "откроется в новой вкладке",
    logout_title: "Выход",
    logout_question: "Выйти из системы единого входа? Вы выйдете из всех подключённых ресурсов.",
    logout_button: "Выйти",
    cancel: "Отмена",
    too_many_attempts: "Слишком много попыток. Подождите и повторите позже.",
    compromised_title: "Мою учётную запись взломали",
    compromised_intro: "Если кто-то узнал ваш пароль или входил от вашего имени, заблокируйте учётную запись: все сеансы будут завершены, а уполномоченный по безопасности получит сообщение. Для восстановления доступа обратитесь к ответственному за ЭИОС.",
    lock_code: "Код блокировки",
    lock_code_hint: "Код напечатан на листке с вашими учётными данными, например ABCD-EFGH-JKLM. Он годится только для блокировки.",
    compromised_button: "Заблокировать учётную запись",
    compromised_done: "Если логин и код указаны верно, учётная запись заблокирована, все сеансы завершены, уполномоченный по безопасности уведомлён.",
    compromised_link: "Мою учётную запись взломали",
    compromised_confirm: "Чтобы заблокировать учётную запись, подтвердите паролем.",
};

pub static EN: Texts = Texts {
    product: "Propusk",
    tagline: "Single sign-on to the college's electronic learning environment",
    skip_to_content: "Skip to content",
    switch_language: "Русский",
    sign_in_title: "Sign in",
    sign_in_intro: "Sign in once to use every college resource available to you.",
    login: "Login",
    login_hint: "The login you were given at registration, for example ivanov.ii",
    password: "Password",
    sign_in_button: "Sign in",
    invalid_credentials: "Wrong login or password.",
    issued_expired: "The password you were issued has expired. Ask the learning environment administrator for a new one.",
    busy: "The server is busy. Please try again in a few seconds.",
    sign_out: "Sign out",
    signed_out: "You have signed out.",
    account_title: "Personal account",
    profile: "Profile",
    full_name: "Full name",
    email: "Email",
    roles: "Roles",
    study_group: "Study group",
    department: "Department",
    not_set: "not set",
    previous_sign_in: "Previous sign-in",
    previous_sign_in_none: "This is your first sign-in.",
    failures_since_none: "No failed sign-in attempts since then.",
    failures_since_some: "Failed sign-in attempts since then",
    failures_warning: "If these were not you, change your password and end your other sessions.",
    sessions: "Active sessions",
    session_started: "Started",
    session_last_seen: "Last active",
    address: "Address",
    device: "Device",
    this_session: "this session",
    end_session: "End",
    end_other_sessions: "End all other sessions",
    session_ended: "The session has ended.",
    other_sessions_ended: "All other sessions have ended.",
    recent_sign_ins: "Recent sign-ins",
    time: "Time",
    result: "Result",
    unknown: "unknown",
    change_password: "Change password",
    must_change_password: "You signed in with an issued password. Choose your own password to continue.",
    current_password: "Current password",
    new_password: "New password",
    confirm_password: "New password again",
    password_rules: "At least 8 characters; not a common password; without your login or parts of your name. A few words joined by hyphens work well.",
    password_changed: "Your password has been changed. Other sessions have ended.",
    wrong_current_password: "The current password is wrong.",
    back_to_account: "Back to the personal account",
    error_title: "Error",
    bad_request: "The request could not be processed. Check what you entered and try again.",
    csrf_failed: "The form has expired or was sent from another site. Reload the page and try again.",
    not_found: "Page not found.",
    forbidden: "Your role does not allow this action. The attempt has been recorded.",
    too_large: "Too much data was sent.",
    unavailable: "The service is temporarily unavailable. Please try again later.",
    directory_unavailable: "The college's account directory (LDAP) is not answering, so signing in is closed for now. Please try again later.",
    directory_password_expired: "Your password in the college directory has expired. Change it the usual way at the college or ask the learning environment administrator.",
    internal: "Something went wrong on our side. It has been logged; please try again later.",
    go_to_sign_in: "Go to sign-in",
    contact_admin: "If you cannot sign in, contact the learning environment administrator.",
    bad_logout: "The sign-out request is not valid: its return address is not registered. Close this tab or go to your personal account.",
    unknown_client: "The application that sent you here is not registered with single sign-on. Please tell the learning environment administrator.",
    bad_redirect_uri: "The application asked to return to an address that is not registered, so for your safety you were not sent there. Please tell the learning environment administrator.",
    refused_title: "Access not granted",
    refused_text: "Your account has no access to",
    refused_contact: "About access to this resource, contact",
    handoff_refused: "The sign-in link for this application has expired, was already used, or belongs to another site. Open the application again.",
    low_vision_on: "Version for the visually impaired",
    low_vision_off: "Standard version",
    rules_title: "Rules of the learning environment",
    rules_intro: "Before you go on, read the rules of the college's electronic learning environment and confirm that you accept them.",
    rules_changed: "The rules of the learning environment have changed. Read the new version and confirm that you accept it.",
    rules_version: "Version",
    rules_translation: "This is a translation; the Russian text is binding.",
    rules_no_translation: "This version has no English translation yet; the binding Russian text follows.",
    rules_accept: "I accept the rules",
    rules_decline: "I do not accept, sign me out",
    rules_declined: "You did not accept the rules of the learning environment, so you have been signed out. To use the college's resources, sign in again and accept the rules.",
    rules_stale: "The rules changed while you were reading. Please read the new version.",
    launcher: "My resources",
    launcher_empty: "No resource is available to you yet. Contact the learning environment administrator.",
    new_tab: "opens in a new tab",
    logout_title: "Sign out",
    logout_question: "Sign out of single sign-on? You will be signed out of every connected resource.",
    logout_button: "Sign out",
    cancel: "Cancel",
    too_many_attempts: "Too many attempts. Please wait and try again later.",
    compromised_title: "My account has been compromised",
    compromised_intro: "If someone learned your password or signed in as you, block your account: every session ends and the security officer is told. To get access back, contact the learning environment administrator.",
    lock_code: "Lock code",
    lock_code_hint: "The code is printed on the slip with your credentials, for example ABCD-EFGH-JKLM. It can only block the account.",
    compromised_button: "Block my account",
    compromised_done: "If the login and code were right, the account is now blocked, every session has ended and the security officer has been told.",
    compromised_link: "My account has been compromised",
    compromised_confirm: "Confirm with your password to block the account.",
};

impl Lang {
    /// An account's status as a word (the console's lists).
    pub fn account_status(self, s: AccountStatus) -> &'static str {
        match (self, s) {
            (Lang::Ru, AccountStatus::Active) => "действует",
            (Lang::Ru, AccountStatus::Locked) => "заблокирована после попыток входа",
            (Lang::Ru, AccountStatus::Compromised) => "скомпрометирована",
            (Lang::Ru, AccountStatus::Suspended) => "приостановлена",
            (Lang::Ru, AccountStatus::Blocked) => "закрыта",
            (Lang::En, AccountStatus::Active) => "active",
            (Lang::En, AccountStatus::Locked) => "locked after failed sign-ins",
            (Lang::En, AccountStatus::Compromised) => "compromised",
            (Lang::En, AccountStatus::Suspended) => "suspended",
            (Lang::En, AccountStatus::Blocked) => "blocked",
        }
    }

    pub fn role(self, r: Role) -> &'static str {
        match (self, r) {
            (Lang::Ru, Role::Student) => "обучающийся",
            (Lang::Ru, Role::Teacher) => "педагогический работник",
            (Lang::Ru, Role::Staff) => "работник",
            (Lang::Ru, Role::EiosAdmin) => "ответственный за ЭИОС",
            (Lang::Ru, Role::SecurityOfficer) => "уполномоченный по безопасности",
            (Lang::Ru, Role::Librarian) => "сотрудник библиотеки",
            (Lang::Ru, Role::Inspector) => "проверяющий (только просмотр)",
            (Lang::En, Role::Student) => "student",
            (Lang::En, Role::Teacher) => "teacher",
            (Lang::En, Role::Staff) => "staff",
            (Lang::En, Role::EiosAdmin) => "learning environment administrator",
            (Lang::En, Role::SecurityOfficer) => "security officer",
            (Lang::En, Role::Librarian) => "librarian",
            (Lang::En, Role::Inspector) => "inspector (read-only)",
        }
    }

    pub fn outcome(self, o: SignInOutcome) -> &'static str {
        match (self, o) {
            (Lang::Ru, SignInOutcome::Success) => "успешно",
            (Lang::Ru, SignInOutcome::BadPassword) => "неверный пароль",
            (Lang::Ru, SignInOutcome::UnknownLogin) => "неизвестный логин",
            (Lang::Ru, SignInOutcome::Disabled) => "учётная запись недоступна",
            (Lang::Ru, SignInOutcome::Expired) => "выданный пароль истёк",
            (Lang::Ru, SignInOutcome::Locked) => "отклонено: учётная запись заблокирована",
            (Lang::Ru, SignInOutcome::BadCode) => "неверный код второго фактора",
            (Lang::En, SignInOutcome::Success) => "success",
            (Lang::En, SignInOutcome::BadPassword) => "wrong password",
            (Lang::En, SignInOutcome::UnknownLogin) => "unknown login",
            (Lang::En, SignInOutcome::Disabled) => "account unavailable",
            (Lang::En, SignInOutcome::Expired) => "issued password expired",
            (Lang::En, SignInOutcome::Locked) => "refused: account locked",
            (Lang::En, SignInOutcome::BadCode) => "wrong second-factor code",
        }
    }

    /// Shown only to a person who gave the right password (no enumeration).
    pub fn account_disabled(self, s: AccountStatus) -> &'static str {
        match (self, s) {
            (Lang::Ru, AccountStatus::Locked) => {
                "Учётная запись временно заблокирована. Обратитесь к ответственному за ЭИОС."
            }
            (Lang::Ru, AccountStatus::Compromised) => {
                "Учётная запись заблокирована после сообщения о компрометации. Обратитесь к уполномоченному по безопасности."
            }
            (Lang::Ru, AccountStatus::Suspended) => "Доступ приостановлен. Обратитесь к ответственному за ЭИОС.",
            (Lang::Ru, AccountStatus::Blocked | AccountStatus::Active) => {
                "Учётная запись заблокирована. Обратитесь к ответственному за ЭИОС."
            }
            (Lang::En, AccountStatus::Locked) => {
                "The account is temporarily locked. Contact the learning environment administrator."
            }
            (Lang::En, AccountStatus::Compromised) => {
                "The account was blocked after a compromise report. Contact the security officer."
            }
            (Lang::En, AccountStatus::Suspended) => {
                "Access is suspended. Contact the learning environment administrator."
            }
            (Lang::En, AccountStatus::Blocked | AccountStatus::Active) => {
                "The account is blocked. Contact the learning environment administrator."
            }
        }
    }

    pub fn password_problem(self, p: PasswordProblem) -> String {
        match (self, p) {
            (Lang::Ru, PasswordProblem::TooShort(n)) => format!("Пароль короче {n} символов."),
            (Lang::Ru, PasswordProblem::TooLong(n)) => format!("Пароль длиннее {n} символов."),
            (Lang::Ru, PasswordProblem::Common) => "Этот пароль слишком распространён или встречался в утечках.".into(),
            (Lang::Ru, PasswordProblem::Guessable) => "Этот пароль слишком легко подобрать.".into(),
            (Lang::Ru, PasswordProblem::ContainsLogin) => "Пароль не должен содержать логин.".into(),
            (Lang::Ru, PasswordProblem::ContainsName) => "Пароль не должен содержать части вашего имени.".into(),
            (Lang::Ru, PasswordProblem::Unchanged) => "Новый пароль совпадает с текущим.".into(),
            (Lang::Ru, PasswordProblem::Mismatch) => "Новые пароли не совпадают.".into(),
            (Lang::En, PasswordProblem::TooShort(n)) => {
                format!("The password is shorter than {n} characters.")
            }
            (Lang::En, PasswordProblem::TooLong(n)) => {
                format!("The password is longer than {n} characters.")
            }
            (Lang::En, PasswordProblem::Common) => "This password is too common or has appeared in leaks.".into(),
            (Lang::En, PasswordProblem::Guessable) => "This password is too easy to guess.".into(),
            (Lang::En, PasswordProblem::ContainsLogin) => "The password must not contain your login.".into(),
            (Lang::En, PasswordProblem::ContainsName) => "The password must not contain parts of your name.".into(),
            (Lang::En, PasswordProblem::Unchanged) => "The new password is the same as the current one.".into(),
            (Lang::En, PasswordProblem::Mismatch) => "The new passwords differ.".into(),
        }
    }
}

#[path = "i18n_second_factor.rs"]
mod second_factor;
pub use second_factor::SecondFactorTexts;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_by_weight_and_defaults_to_russian() {
        let cases = [
            ("", Lang::Ru),
            ("en-US,en;q=0.9", Lang::En),
            ("de-DE,en;q=0.5,ru;q=0.8", Lang::Ru),
            ("ru-RU, en;q=0.9", Lang::Ru),
            ("fr, en;q=0.1", Lang::En),
            ("zz;q=abc", Lang::Ru),
        ];
        for (h, want) in cases {
            assert_eq!(Lang::from_accept_language(h), want, "{h:?}");
        }
    }
}
