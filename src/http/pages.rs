//! Server-rendered pages. Markup escapes every value (maud), labels every control,
//! announces errors to screen readers and works with the keyboard alone (WCAG 2.1 AA,
//! Every page's frame offers the version for the visually impaired
//! (`http/display.rs`): `<html class="low-vision">` and the stylesheet's rules for it.

use maud::{DOCTYPE, Markup, html};

use super::i18n::Lang;
use crate::app::AccountOverview;
use crate::ports::SignInRecord;

/// A message above a page's content: an error (announced at once) or a notice.
pub enum Flash<'a> {
    Error(&'a str),
    Notice(&'a str),
}

/// What the page frame needs to know about the person, if signed in.
pub struct Frame<'a> {
    pub lang: Lang,
    pub title: &'a str,
    /// `(csrf token)` when signed in: the frame then shows "sign out".
    pub signed_in: Option<&'a str>,
    /// The path the language switch returns to.
    pub here: &'a str,
}

pub fn layout(f: &Frame<'_>, flash: Option<Flash<'_>>, body: Markup) -> Markup {
    let t = f.lang.t();
    let low_vision = super::display::low_vision();
    html! {
        (DOCTYPE)
        html lang=(f.lang.code()) class=[low_vision.then_some("low-vision")] {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (f.title) " · " (t.product) }
                link rel="stylesheet" href="/static/propusk.css";
                link rel="icon" href="/static/favicon.svg" type="image/svg+xml";
            }
            body {
                a.skip href="#main" { (t.skip_to_content) }
                header.top {
                    div.brand { span.logo aria-hidden="true" { "П" } span { (t.product) } }
                    nav aria-label=(if f.lang == Lang::Ru { "Служебное меню" } else { "Utility menu" }) {
                        a href={ "/lang/" (f.lang.other().code()) "?next=" (f.here) }
                          lang=(f.lang.other().code()) hreflang=(f.lang.other().code()) { (t.switch_language) }
                        @if low_vision {
                            a.view href={ "/view/standard?next=" (f.here) } { (t.low_vision_off) }
                        } @else {
                            a.view href={ "/view/low-vision?next=" (f.here) } { (t.low_vision_on) }
                        }
                        @if let Some(csrf) = f.signed_in {
                            form.inline method="post" action="/sign-out" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { (t.sign_out) }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (f.title) }
                    @match flash {
                        Some(Flash::Error(m)) => { div.flash.error role="alert" id="form-error" { (m) } }
                        Some(Flash::Notice(m)) => { div.flash.notice role="status" { (m) } }
                        None => {}
                    }
                    (body)
                }
                footer { p { (t.tagline) } }
            }
        }
    }
}

pub fn sign_in(
    lang: Lang,
    csrf: &str,
    error: Option<&str>,
    notice: Option<&str>,
    login: &str,
    next: &str,
    announcements: Markup,
) -> Markup {
    let t = lang.t();
    let frame = Frame { lang, title: t.sign_in_title, signed_in: None, here: "/sign-in" };
    let flash = error.map(Flash::Error).or(notice.map(Flash::Notice));
    let invalid = error.is_some();
    layout(
        &frame,
        flash,
        html! {
            (announcements)
            p { (t.sign_in_intro) }
            form.card #sign-in-form method="post" action="/sign-in" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="next" value=(next);
                div.field {
                    label for="login" { (t.login) }
                    input #login name="login" type="text" value=(login) autocomplete="username"
                        autocapitalize="none" spellcheck="false" required maxlength="64"
                        aria-describedby=(if invalid { "form-error login-hint" } else { "login-hint" })
                        aria-invalid=(invalid) autofocus[login.is_empty()];
                    p.hint #login-hint { (t.login_hint) }
                }
                div.field {
                    label for="password" { (t.password) }
                    input #password name="password" type="password" autocomplete="current-password"
                        required maxlength="256" aria-invalid=(invalid) aria-describedby=[invalid.then_some("form-error")]
                        autofocus[!login.is_empty()];
                }
                button.primary type="submit" { (t.sign_in_button) }
            }
            p.hint { (t.contact_admin) }
            p { a href="/compromised" { (t.compromised_link) } }
            p { a href="/access-request" { (if lang == Lang::Ru { "Не могу войти: обратиться к администратору" } else { "I cannot sign in: ask the administrator" }) } }
        },
    )
}

pub fn change_password(lang: Lang, csrf: &str, forced: bool, error: Option<&str>, next: Option<&str>) -> Markup {
    let t = lang.t();
    let frame = Frame { lang, title: t.change_password, signed_in: Some(csrf), here: "/account/password" };
    let flash = error.map(Flash::Error).or(forced.then_some(Flash::Notice(t.must_change_password)));
    let invalid = error.is_some();
    layout(
        &frame,
        flash,
        html! {
            form.card method="post" action="/account/password" {
                input type="hidden" name="csrf" value=(csrf);
                @if let Some(n) = next { input type="hidden" name="next" value=(n); }
                div.field {
                    label for="current" { (t.current_password) }
                    input #current name="current" type="password" autocomplete="current-password"
                        required maxlength="256" autofocus aria-invalid=(invalid)
                        aria-describedby=[invalid.then_some("form-error")];
                }
                div.field {
                    label for="new" { (t.new_password) }
                    input #new name="new" type="password" autocomplete="new-password" required
                        minlength="8" maxlength="256" aria-invalid=(invalid)
                        aria-describedby=(if invalid { "form-error rules" } else { "rules" });
                    p.hint #rules { (t.password_rules) }
                }
                div.field {
                    label for="confirm" { (t.confirm_password) }
                    input #confirm name="confirm" type="password" autocomplete="new-password" required
                        minlength="8" maxlength="256" aria-invalid=(invalid)
                        aria-describedby=[invalid.then_some("form-error")];
                }
                button.primary type="submit" { (t.change_password) }
            }
            @if !forced { p { a href="/account" { (t.back_to_account) } } }
        },
    )
}

pub fn account(lang: Lang, csrf: &str, o: &AccountOverview, notice: Option<&str>) -> Markup {
    let t = lang.t();
    let a = &o.account;
    let frame = Frame { lang, title: t.account_title, signed_in: Some(csrf), here: "/account" };
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| t.not_set.to_owned());
    let roles: Vec<&str> = a.roles.iter().map(|r| lang.role(r)).collect();
    layout(
        &frame,
        notice.map(Flash::Notice),
        html! {
            (super::admin::notices::banner(lang, &o.announcements))
            (launcher(lang, &o.launcher))
            section aria-labelledby="h-profile" {
                h2 #h-profile { (t.profile) }
                dl.profile {
                    dt { (t.full_name) } dd { (a.full_name) }
                    dt { (t.login) } dd { code { (a.login) } }
                    dt { (t.email) } dd { (opt(&a.email)) }
                    dt { (t.roles) } dd { (roles.join(", ")) }
                    dt { (t.study_group) } dd { (opt(&a.study_group)) }
                    dt { (t.department) } dd { (opt(&a.department)) }
                }
                p { a href="/account/password" { (t.change_password) } }
                p { a href="/account/compromised" { (t.compromised_link) } }
                p { a href="/rules" { (t.rules_title) } }
                @if let Some(sf) = &o.second_factor {
                    @let s = lang.second_factor();
                    p {
                        a href="/account/second-factor" { (s.account_title) } ": "
                        @match sf.enrolled_at {
                            Some(at) => { (s.account_enrolled) " " (at.to_human()) ", " (s.account_codes_left) ": " (sf.recovery_codes_left) }
                            None => { (s.account_not_enrolled) }
                        }
                    }
                }
            }
            section aria-labelledby="h-previous" {
                h2 #h-previous { (t.previous_sign_in) }
                @match &o.previous_sign_in {
                    Some(p) => p { (p.at.to_human()) ", " (t.address) ": " (ip(p.ip.as_deref(), lang)) }
                    None => p { (t.previous_sign_in_none) }
                }
                @if o.failures_since_previous.is_empty() {
                    p { (t.failures_since_none) }
                } @else {
                    div.flash.warning role="status" {
                        p { strong { (t.failures_since_some) ": " (o.failures_since_previous.len()) } }
                        p { (t.failures_warning) }
                    }
                    (sign_in_table(lang, &o.failures_since_previous, "failures"))
                }
            }
            section aria-labelledby="h-sessions" {
                h2 #h-sessions { (t.sessions) }
                table {
                    caption.visually-hidden { (t.sessions) }
                    thead { tr {
                        th scope="col" { (t.session_started) }
                        th scope="col" { (t.session_last_seen) }
                        th scope="col" { (t.address) }
                        th scope="col" { (t.device) }
                        th scope="col" { span.visually-hidden { (t.end_session) } }
                    } }
                    tbody {
                        @for s in &o.sessions {
                            tr {
                                td { (s.created_at.to_human()) }
                                td { (s.last_seen_at.to_human()) }
                                td { (ip(s.ip.as_deref(), lang)) }
                                td { (s.user_agent.as_deref().map(short_agent).unwrap_or(t.unknown)) }
                                td {
                                    @if s.current { em { (t.this_session) } } @else {
                                        form.inline method="post" action="/account/sessions/end" {
                                            input type="hidden" name="csrf" value=(csrf);
                                            input type="hidden" name="session" value=(s.handle.as_str());
                                            button type="submit"
                                                aria-label={ (t.end_session) ": " (s.created_at.to_human()) ", " (ip(s.ip.as_deref(), lang)) }
                                                { (t.end_session) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if o.sessions.len() > 1 {
                    form method="post" action="/account/sessions/end-others" {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" { (t.end_other_sessions) }
                    }
                }
            }
            section aria-labelledby="h-recent" {
                h2 #h-recent { (t.recent_sign_ins) }
                (sign_in_table(lang, &o.recent_sign_ins, "recent"))
            }
        },
    )
}

fn sign_in_table(lang: Lang, rows: &[SignInRecord], id: &str) -> Markup {
    let t = lang.t();
    html! {
        table id=(id) {
            thead { tr {
                th scope="col" { (t.time) }
                th scope="col" { (t.address) }
                th scope="col" { (t.result) }
            } }
            tbody {
                @for r in rows {
                    tr.failure[r.outcome.is_failure()] {
                        td { (r.at.to_human()) }
                        td { (ip(r.ip.as_deref(), lang)) }
                        td { (lang.outcome(r.outcome)) }
                    }
                }
            }
        }
    }
}

pub fn error(lang: Lang, message: &str, show_sign_in: bool) -> Markup {
    let t = lang.t();
    let frame = Frame { lang, title: t.error_title, signed_in: None, here: "/sign-in" };
    layout(
        &frame,
        Some(Flash::Error(message)),
        html! {
            @if show_sign_in { p { a href="/sign-in" { (t.go_to_sign_in) } } }
        },
    )
}

fn ip(v: Option<&str>, lang: Lang) -> String {
    v.unwrap_or(lang.t().unknown).to_owned()
}

/// A browser's name from its user agent, enough to recognise one's own devices.
fn short_agent(ua: &str) -> &str {
    const KNOWN: [(&str, &str); 7] = [
        ("YaBrowser", "Yandex Browser"),
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    KNOWN.iter().find(|(k, _)| ua.contains(k)).map_or(ua, |(_, n)| n)
}

/// The role policy refuses this person this resource: say so and whom to ask
/// (the catalogue's owner when the resource is in it, R-21).
pub fn refused(lang: Lang, resource: &str, owner: Option<&crate::policy::Owner>) -> Markup {
    let t = lang.t();
    let frame = Frame { lang, title: t.refused_title, signed_in: None, here: "/account" };
    layout(
        &frame,
        Some(Flash::Error(&format!("{} «{resource}».", t.refused_text))),
        html! {
            @match owner {
                Some(o) => p { (t.refused_contact) ": " (o.name) ", " (contact(&o.contact)) "." }
                None => p { (t.contact_admin) }
            }
            p { a href="/account" { (t.back_to_account) } }
        },
    )
}

/// An owner's contact: a mail link when it is an address.
fn contact(c: &str) -> Markup {
    html! {
        @if c.contains('@') && !c.contains([' ', ':']) { a href={ "mailto:" (c) } { (c) } } @else { (c) }
    }
}

/// A resource's title in the page's language.
pub fn resource_title(lang: Lang, r: &crate::policy::Resource) -> &str {
    if lang == Lang::Ru { &r.title_ru } else { &r.title_en }
}

/// The launcher: the resources this person may use, as a list of links with their
/// descriptions; a `link` resource (no single sign-on) opens in a new tab.
fn launcher(lang: Lang, resources: &[crate::policy::Resource]) -> Markup {
    let t = lang.t();
    html! {
        section aria-labelledby="h-launcher" {
            h2 #h-launcher { (t.launcher) }
            @if resources.is_empty() {
                p { (t.launcher_empty) }
            } @else {
                ul.launcher {
                    @for r in resources {
                        @let description = if lang == Lang::Ru { &r.description_ru } else { &r.description_en };
                        @let id = format!("res-{}", r.id);
                        li.tile {
                            @if matches!(r.integration, crate::policy::Integration::Link) {
                                a href=(r.url) target="_blank" rel="noopener noreferrer" aria-describedby=(id) {
                                    (resource_title(lang, r))
                                    span.visually-hidden { " (" (t.new_tab) ")" }
                                }
                            } @else {
                                a href=(r.url) aria-describedby=(id) { (resource_title(lang, r)) }
                            }
                            p id=(id) { (description) }
                        }
                    }
                }
            }
        }
    }
}

/// Asks before signing out when the request did not prove it came from the person's client.
pub fn confirm_logout(lang: Lang, csrf: &str, req: &crate::app::oidc::LogoutRequest) -> Markup {
    let t = lang.t();
    let frame = Frame { lang, title: t.logout_title, signed_in: None, here: "/account" };
    let hidden = [
        ("id_token_hint", &req.id_token_hint),
        ("client_id", &req.client_id),
        ("post_logout_redirect_uri", &req.post_logout_redirect_uri),
        ("state", &req.state),
    ];
    layout(
        &frame,
        None,
        html! {
            p { (t.logout_question) }
            form.card method="post" action="/logout" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="confirm" value="1";
                @for (name, value) in hidden {
                    @if let Some(v) = value { input type="hidden" name=(name) value=(v); }
                }
                button.primary type="submit" { (t.logout_button) }
            }
            p { a href="/account" { (t.cancel) } }
        },
    )
}

/// Renders a public form page that carries the pre-sign-in anti-forgery token, setting
/// its cookie when the browser has none.
pub fn with_pre_csrf(headers: &axum::http::HeaderMap, page: impl FnOnce(&str) -> Markup) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    use base64::Engine as _;
    use rand::RngCore as _;
    let existing = super::extract::cookie(headers, super::extract::PRE_CSRF_COOKIE).filter(|v| v.len() == 43);
    let token = existing.map(str::to_owned).unwrap_or_else(|| {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    });
    let mut resp = page(&token).into_response();
    if existing.is_none() {
        resp.headers_mut()
            .append(axum::http::header::SET_COOKIE, super::host_cookie(super::extract::PRE_CSRF_COOKIE, &token, None));
    }
    resp
}

/// R-9 without signing in: login and lock code.
pub fn compromised_public(lang: Lang, csrf: &str, done: Option<&str>) -> Markup {
    let t = lang.t();
    let frame = Frame { lang, title: t.compromised_title, signed_in: None, here: "/compromised" };
    layout(
        &frame,
        done.map(Flash::Notice),
        html! {
            p { (t.compromised_intro) }
            form.card method="post" action="/compromised" {
                input type="hidden" name="csrf" value=(csrf);
                div.field {
                    label for="login" { (t.login) }
                    input #login name="login" type="text" autocomplete="username" required maxlength="64"
                        autocapitalize="none" spellcheck="false";
                }
                div.field {
                    label for="code" { (t.lock_code) }
                    input #code name="code" type="text" autocomplete="off" required maxlength="32"
                        autocapitalize="characters" spellcheck="false" aria-describedby="code-hint";
                    p.hint #code-hint { (t.lock_code_hint) }
                }
                button.primary type="submit" { (t.compromised_button) }
            }
            p { a href="/sign-in" { (t.go_to_sign_in) } }
        },
    )
}

/// R-9 from the personal account: confirmed with the password.
pub fn compromised_signed_in(lang: Lang, csrf: &str, error: Option<&str>) -> Markup {
    let t = lang.t();
    let frame = Frame { lang, title: t.compromised_title, signed_in: Some(csrf), here: "/account/compromised" };
    layout(
        &frame,
        error.map(Flash::Error),
        html! {
            p { (t.compromised_intro) }
            p { (t.compromised_confirm) }
            form.card method="post" action="/account/compromised" {
                input type="hidden" name="csrf" value=(csrf);
                div.field {
                    label for="password" { (t.password) }
                    input #password name="password" type="password" autocomplete="current-password" required
                        maxlength="256" aria-invalid=(error.is_some())
                        aria-describedby=[error.is_some().then_some("form-error")];
                }
                button.primary type="submit" { (t.compromised_button) }
            }
            p { a href="/account" { (t.cancel) } }
        },
    )
}

/// What the rules page shows.
pub struct RulesView<'a> {
    pub version: &'a crate::ports::rules::RuleVersion,
    /// The person has yet to accept this version: the form is shown.
    pub pending: bool,
    /// They accepted an earlier version: the rules changed.
    pub accepted_before: bool,
    /// Where accepting leads (a local path).
    pub next: &'a str,
    pub flash: Option<&'a str>,
}

/// The rules of the environment with "I accept" and "I do not accept".
pub fn rules(lang: Lang, csrf: &str, v: &RulesView<'_>) -> Markup {
    let t = lang.t();
    let frame = Frame { lang, title: t.rules_title, signed_in: Some(csrf), here: "/rules" };
    let flash = match (v.flash, v.pending) {
        (Some(m), _) => Some(Flash::Error(m)),
        (None, true) => Some(Flash::Notice(if v.accepted_before { t.rules_changed } else { t.rules_intro })),
        (None, false) => None,
    };
    let (text, text_lang, note) = match (lang, &v.version.text_en) {
        (Lang::En, Some(en)) => (en.as_str(), Lang::En, Some(t.rules_translation)),
        (Lang::En, None) => (v.version.text_ru.as_str(), Lang::Ru, Some(t.rules_no_translation)),
        (Lang::Ru, _) => (v.version.text_ru.as_str(), Lang::Ru, None),
    };
    layout(
        &frame,
        flash,
        html! {
            p.hint { (t.rules_version) " " (v.version.number) ", " (v.version.published_at.to_human()) }
            @if let Some(n) = note { p { (n) } }
            article.rules lang=(text_lang.code()) aria-label=(t.rules_title) { (rules_text(text)) }
            @if v.pending {
                form.card.answer method="post" action="/rules" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="version" value=(v.version.number);
                    input type="hidden" name="next" value=(v.next);
                    button.primary type="submit" name="answer" value="accept" { (t.rules_accept) }
                    button type="submit" name="answer" value="decline" { (t.rules_decline) }
                }
            } @else {
                p { a href="/account" { (t.back_to_account) } }
            }
        },
    )
}

/// After declining the rules: signed out, and told why.
pub fn rules_declined(lang: Lang) -> Markup {
    let t = lang.t();
    let frame = Frame { lang, title: t.rules_title, signed_in: None, here: "/sign-in" };
    layout(&frame, Some(Flash::Notice(t.rules_declined)), html! { p { a href="/sign-in" { (t.go_to_sign_in) } } })
}

/// Plain text with a little Markdown, every character escaped: blocks separated by
/// blank lines; `# ` and `## ` headings; blocks of `- ` (or `* `, `• `) lines as a
/// list; blocks of `1. ` lines as a numbered list keeping its first number; anything
/// else a paragraph.
pub fn rules_text(text: &str) -> Markup {
    fn numbered(line: &str) -> Option<(u32, &str)> {
        let (n, rest) = line.split_once(". ")?;
        Some((n.parse().ok()?, rest.trim()))
    }
    fn bullet(line: &str) -> Option<&str> {
        ["- ", "* ", "• "].iter().find_map(|m| line.strip_prefix(m)).map(str::trim)
    }
    let blocks: Vec<Vec<&str>> = text
        .split("\n\n")
        .map(|b| b.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>())
        .filter(|b| !b.is_empty())
        .collect();
    html! {
        @for b in &blocks {
            @if let Some(h) = b[0].strip_prefix("## ") {
                h3 { (h) }
                @if b.len() > 1 { p { (b[1..].join(" ")) } }
            } @else if let Some(h) = b[0].strip_prefix("# ") {
                h2 { (h) }
                @if b.len() > 1 { p { (b[1..].join(" ")) } }
            } @else if b.iter().all(|l| bullet(l).is_some()) {
                ul { @for l in b { li { (bullet(l).unwrap_or(l)) } } }
            } @else if let Some(items) = b.iter().map(|l| numbered(l)).collect::<Option<Vec<_>>>() {
                ol start=(items[0].0) { @for (_, item) in &items { li { (item) } } }
            } @else {
                p { (b.join(" ")) }
            }
        }
    }
}

#[cfg(test)]
mod rules_tests {
    use super::rules_text;

    #[test]
    fn rules_text_is_escaped_and_structured() {
        let html =
            rules_text("# Правила\n\nОбщее <b>положение</b>\nпродолжение.\n\n4. Четыре\n5. Пять\n\n- а\n- б & в")
                .into_string();
        assert_eq!(
            html,
            "<h2>Правила</h2><p>Общее &lt;b&gt;положение&lt;/b&gt; продолжение.</p>\
             <ol start=\"4\"><li>Четыре</li><li>Пять</li></ol><ul><li>а</li><li>б &amp; в</li></ul>"
        );
    }
}
