//! The second factor's texts (D-5), Russian first, English available.

use super::Lang;

pub struct SecondFactorTexts {
    pub code_title: &'static str,
    pub code_intro: &'static str,
    pub code_label: &'static str,
    pub code_hint: &'static str,
    pub code_button: &'static str,
    pub wrong_code: &'static str,
    pub expired: &'static str,
    pub enrol_title: &'static str,
    pub enrol_intro: &'static str,
    pub enrol_qr: &'static str,
    pub enrol_key: &'static str,
    pub enrol_confirm: &'static str,
    pub enrol_button: &'static str,
    pub codes_title: &'static str,
    pub codes_intro: &'static str,
    pub codes_saved: &'static str,
    pub codes_gone: &'static str,
    pub account_title: &'static str,
    pub account_enrolled: &'static str,
    pub account_not_enrolled: &'static str,
    pub account_codes_left: &'static str,
    pub reenrol_button: &'static str,
    pub regenerate_button: &'static str,
    pub current_code: &'static str,
    pub reenrolled: &'static str,
}

const RU: SecondFactorTexts = SecondFactorTexts {
    code_title: "Код подтверждения",
    code_intro: "Для вашей роли вход подтверждается вторым фактором. Введите шестизначный код из приложения-аутентификатора или один из резервных кодов.",
    code_label: "Код",
    code_hint: "Шесть цифр из приложения или резервный код вида xxxx-xxxx-xx.",
    code_button: "Подтвердить",
    wrong_code: "Код неверен или уже использован. Введите новый код из приложения.",
    expired: "Время на подтверждение входа истекло. Войдите снова.",
    enrol_title: "Подключение второго фактора",
    enrol_intro: "Для вашей роли вход защищается вторым фактором (одноразовыми кодами). Отсканируйте QR-код приложением-аутентификатором (например, Яндекс Ключ, Google Authenticator, FreeOTP) или введите ключ вручную, затем введите код из приложения.",
    enrol_qr: "QR-код для приложения-аутентификатора",
    enrol_key: "Ключ для ввода вручную",
    enrol_confirm: "Код из приложения",
    enrol_button: "Подключить",
    codes_title: "Резервные коды",
    codes_intro: "Сохраните эти коды в надёжном месте (распечатайте или запишите). Каждый код действует один раз и заменяет код из приложения, если телефон потерян. Больше они показаны не будут.",
    codes_saved: "Я сохранил(а) коды",
    codes_gone: "Резервные коды уже были показаны. Новые коды можно получить в личном кабинете.",
    account_title: "Второй фактор",
    account_enrolled: "Подключён",
    account_not_enrolled: "Не подключён",
    account_codes_left: "Осталось резервных кодов",
    reenrol_button: "Подключить заново",
    regenerate_button: "Получить новые резервные коды",
    current_code: "Текущий код из приложения",
    reenrolled: "Второй фактор подключён заново.",
};

const EN: SecondFactorTexts = SecondFactorTexts {
    code_title: "Verification code",
    code_intro: "Your role signs in with a second factor. Enter the six-digit code from your authenticator app or one of your recovery codes.",
    code_label: "Code",
    code_hint: "Six digits from the app, or a recovery code like xxxx-xxxx-xx.",
    code_button: "Verify",
    wrong_code: "The code is wrong or was used already. Enter a new code from the app.",
    expired: "The time to complete the sign-in ran out. Please sign in again.",
    enrol_title: "Set up the second factor",
    enrol_intro: "Your role's sign-in is protected by a second factor (one-time codes). Scan the QR code with an authenticator app (for example Yandex Key, Google Authenticator, FreeOTP) or type the key by hand, then enter the code the app shows.",
    enrol_qr: "QR code for the authenticator app",
    enrol_key: "Key for typing by hand",
    enrol_confirm: "Code from the app",
    enrol_button: "Set up",
    codes_title: "Recovery codes",
    codes_intro: "Keep these codes somewhere safe (print or write them down). Each works once, in place of a code from the app if your phone is lost. They will not be shown again.",
    codes_saved: "I have saved them",
    codes_gone: "The recovery codes were shown already. You can get new ones on your account page.",
    account_title: "Second factor",
    account_enrolled: "Set up",
    account_not_enrolled: "Not set up",
    account_codes_left: "Recovery codes left",
    reenrol_button: "Set up again",
    regenerate_button: "Get new recovery codes",
    current_code: "Current code from the app",
    reenrolled: "The second factor was set up again.",
};

impl Lang {
    pub fn second_factor(self) -> &'static SecondFactorTexts {
        match self {
            Lang::Ru => &RU,
            Lang::En => &EN,
        }
    }
}
