//! The second factor's pages (D-5): the code asked at sign-in, enrolment with its QR
//! code (inline SVG drawn on the server: no script, no data: address, so the strict
//! content policy holds), the recovery codes shown once, and the account page's part.

use maud::{Markup, PreEscaped, html};

use super::i18n::Lang;
use super::pages::{Flash, Frame, layout};
use crate::app::{Enrolment, SecondFactorStatus};
use crate::domain::totp::RecoveryCode;

/// The QR code of an `otpauth://` address as an inline `<svg>` element.
pub fn qr_svg(uri: &str) -> Markup {
    match qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M) {
        Ok(code) => {
            let svg = code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(220, 220).quiet_zone(true).build();
            // Drop the XML declaration: the element goes inside the HTML document.
            let start = svg.find("<svg").unwrap_or(0);
            PreEscaped(svg[start..].to_owned())
        }
        Err(_) => html! {},
    }
}

fn code_field(lang: Lang, id: &str, label: &str, invalid: bool) -> Markup {
    let s = lang.second_factor();
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name="code" type="text" inputmode="text" autocomplete="one-time-code"
                autocapitalize="none" spellcheck="false" required maxlength="32" autofocus
                aria-invalid=(invalid)
                aria-describedby=(if invalid { format!("form-error {id}-hint") } else { format!("{id}-hint") });
            p.hint id={ (id) "-hint" } { (s.code_hint) }
        }
    }
}

/// At sign-in: the code of an enrolled second factor.
pub fn code(lang: Lang, csrf: &str, error: Option<&str>) -> Markup {
    let s = lang.second_factor();
    let frame = Frame { lang, title: s.code_title, signed_in: None, here: "/sign-in/second-factor" };
    layout(
        &frame,
        error.map(Flash::Error),
        html! {
            p { (s.code_intro) }
            form.card method="post" action="/sign-in/second-factor" {
                input type="hidden" name="csrf" value=(csrf);
                (code_field(lang, "code", s.code_label, error.is_some()))
                button.primary type="submit" { (s.code_button) }
            }
        },
    )
}

fn enrolment_body(lang: Lang, e: &Enrolment) -> Markup {
    let s = lang.second_factor();
    html! {
        p { (s.enrol_intro) }
        figure.qr {
            (qr_svg(&e.uri))
            figcaption { (s.enrol_qr) }
        }
        p { (s.enrol_key) ": " code.secret { (e.secret) } }
    }
}

/// At sign-in: enrolment of an account that has no second factor yet.
pub fn enrol(lang: Lang, csrf: &str, e: &Enrolment, error: Option<&str>) -> Markup {
    let s = lang.second_factor();
    let frame = Frame { lang, title: s.enrol_title, signed_in: None, here: "/sign-in/second-factor" };
    layout(
        &frame,
        error.map(Flash::Error),
        html! {
            (enrolment_body(lang, e))
            form.card method="post" action="/sign-in/second-factor" {
                input type="hidden" name="csrf" value=(csrf);
                (code_field(lang, "code", s.enrol_confirm, error.is_some()))
                button.primary type="submit" { (s.enrol_button) }
            }
        },
    )
}

/// The recovery codes, shown once. At sign-in `action` is the "I have saved them" form;
/// on the account page a link back.
pub fn recovery_codes(lang: Lang, csrf: &str, codes: &[RecoveryCode], at_sign_in: bool) -> Markup {
    let s = lang.second_factor();
    let signed_in = (!at_sign_in).then_some(csrf);
    let frame = Frame { lang, title: s.codes_title, signed_in, here: "/account/second-factor" };
    layout(
        &frame,
        None,
        html! {
            @if codes.is_empty() { p { (s.codes_gone) } } @else {
                p { (s.codes_intro) }
                ul.codes { @for c in codes { li { code { (c.display()) } } } }
            }
            @if at_sign_in {
                form.card method="post" action="/sign-in/second-factor/saved" {
                    input type="hidden" name="csrf" value=(csrf);
                    button.primary type="submit" { (s.codes_saved) }
                }
            } @else {
                p { a href="/account/second-factor" { (s.codes_saved) } }
            }
        },
    )
}

/// The account page's part: the state, re-enrolment and new recovery codes, each
/// confirmed by a fresh code from the current factor.
pub fn account(lang: Lang, csrf: &str, st: &SecondFactorStatus, notice: Option<&str>, error: Option<&str>) -> Markup {
    let s = lang.second_factor();
    let frame = Frame { lang, title: s.account_title, signed_in: Some(csrf), here: "/account/second-factor" };
    let flash = error.map(Flash::Error).or(notice.map(Flash::Notice));
    layout(
        &frame,
        flash,
        html! {
            dl {
                dt { (s.account_title) }
                dd {
                    @match st.enrolled_at {
                        Some(t) => { (s.account_enrolled) " " (t.to_human()) }
                        None => { (s.account_not_enrolled) }
                    }
                }
                @if st.enrolled_at.is_some() {
                    dt { (s.account_codes_left) }
                    dd { (st.recovery_codes_left) }
                }
            }
            @if st.enrolled_at.is_some() {
                form.card method="post" action="/account/second-factor/reenrol" {
                    input type="hidden" name="csrf" value=(csrf);
                    (code_field(lang, "reenrol-code", s.current_code, error.is_some()))
                    button type="submit" { (s.reenrol_button) }
                }
                form.card method="post" action="/account/second-factor/recovery" {
                    input type="hidden" name="csrf" value=(csrf);
                    (code_field(lang, "recovery-code", s.current_code, error.is_some()))
                    button type="submit" { (s.regenerate_button) }
                }
            }
            p { a href="/account" { (lang.t().back_to_account) } }
        },
    )
}

/// The account page's re-enrolment: the new secret, confirmed by a code from it.
pub fn reenrol(lang: Lang, csrf: &str, e: &Enrolment, error: Option<&str>) -> Markup {
    let s = lang.second_factor();
    let frame = Frame { lang, title: s.enrol_title, signed_in: Some(csrf), here: "/account/second-factor" };
    layout(
        &frame,
        error.map(Flash::Error),
        html! {
            (enrolment_body(lang, e))
            form.card method="post" action="/account/second-factor/confirm" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="proposal" value=(e.proposal.as_deref().unwrap_or_default());
                (code_field(lang, "code", s.enrol_confirm, error.is_some()))
                button.primary type="submit" { (s.enrol_button) }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_an_svg_element_the_content_policy_allows() {
        let svg = qr_svg("otpauth://totp/propusk:ivanov.i?secret=MZXW6YTBOI&issuer=propusk").into_string();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(svg.ends_with("</svg>"));
        // style-src 'self' refuses inline styles; img-src refuses data: addresses.
        for banned in ["style", "data:", "<script", "<?xml"] {
            assert!(!svg.contains(banned), "{banned} in {svg}");
        }
    }

    #[test]
    fn recovery_codes_are_listed_once_each() {
        let codes: Vec<RecoveryCode> = (0..10u8).map(|i| RecoveryCode::from_random([i; 10])).collect();
        let page = recovery_codes(Lang::Ru, "csrf-token", &codes, true).into_string();
        for c in &codes {
            assert_eq!(page.matches(&format!("<li><code>{}</code></li>", c.display())).count(), 1);
        }
        assert!(page.contains("action=\"/sign-in/second-factor/saved\""));
    }
}
