//! Telling people by email: a lock to the account's owner, a compromise report
//! and password spraying to the security officers.
//!
//! A message is queued in the store in the same transaction as the lock, report or block
//! that caused it (so it is never lost nor sent for something that did not happen), and a
//! background worker sends it later: a slow or absent mail server never delays or fails a
//! request. A failed attempt is tried again with a growing pause, then given up; every
//! outcome is recorded in the queue. Messages are Russian first, then English, and carry
//! no secret (no password, no lock code, no link that signs anyone in).

use std::time::Duration;

use serde_json::{Value, json};

use super::{App, AppError};
use crate::domain::account::Account;
use crate::domain::time::Timestamp;
use crate::ports::protection::{MailSender, OutboundMail};
use crate::ports::{Change, ProtectionChange, StoreError};

/// Attempts before a message is given up (about an hour and a half of retries).
pub const MAX_MAIL_ATTEMPTS: u32 = 8;
/// How long a node holds a message it is sending before another node may try it.
const LEASE: Duration = Duration::from_secs(120);

/// Why a message was not sent.
enum Failure {
    /// Worth another attempt later (the server did not answer, refused for now).
    Retry(String),
    /// Nothing to retry: nobody to send to, or no mail server configured.
    Final(&'static str),
}

impl App {
    /// The message telling `account`'s owner about a lock, if they have an address.
    pub(crate) fn lock_mail(
        &self,
        account: &Account,
        network: Option<&str>,
        failures: u32,
        until: &str,
    ) -> Option<Change> {
        let to = account.email.clone()?;
        let mut m = OutboundMail::new("lock", Some(to), self.clock.now());
        m.login = Some(account.login.as_str().to_owned());
        m.network = network.map(str::to_owned);
        m.detail = json!({ "failures": failures, "until": until }).to_string();
        Some(Change::Protection(ProtectionChange::QueueMail(m)))
    }

    /// The message telling the security officers about a compromise report.
    pub(crate) fn compromise_mail(&self, account: &Account, via: &str, ip: Option<&str>) -> Change {
        let mut m = OutboundMail::new("compromise", None, self.clock.now());
        m.login = Some(account.login.as_str().to_owned());
        m.network = ip.map(str::to_owned);
        m.detail = json!({ "via": via }).to_string();
        Change::Protection(ProtectionChange::QueueMail(m))
    }

    /// The message telling the security officers that a network was blocked for spraying.
    pub(crate) fn spraying_mail(&self, network: &str, distinct_logins: u32, until: Timestamp) -> Change {
        let mut m = OutboundMail::new("spraying", None, self.clock.now());
        m.network = Some(network.to_owned());
        m.detail = json!({ "distinct_logins": distinct_logins, "until": until.to_human() }).to_string();
        Change::Protection(ProtectionChange::QueueMail(m))
    }

    /// Sends the due messages; returns how many were sent. `sender` is `None` when no mail
    /// server is configured: messages are then closed as not sent, with the reason.
    /// `officers` are the security officers' addresses (`mail.security_officers`).
    pub async fn deliver_mail(&self, sender: Option<&dyn MailSender>, officers: &[String]) -> Result<usize, AppError> {
        let now = self.clock.now();
        let mut sent = 0;
        for m in self.store.list_due_mail(now, 20).await? {
            let claim = ProtectionChange::ClaimMail { id: m.id, now, until: now.saturating_add(LEASE) };
            match self.store.commit(vec![Change::Protection(claim)]).await {
                Ok(()) => {}
                Err(StoreError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            let to = match &m.recipient {
                Some(r) => vec![r.clone()],
                None => officers.to_vec(),
            };
            let (subject, body) = compose(&m, &self.issuer);
            let result = match sender {
                None => Err(Failure::Final("no mail server is configured (mail.host)")),
                Some(_) if to.is_empty() => {
                    Err(Failure::Final("no security officers' addresses are configured (mail.security_officers)"))
                }
                Some(s) => s.send(&to, &subject, &body).await.map_err(Failure::Retry),
            };
            let at = self.clock.now();
            let attempts = m.attempts + 1;
            let change = match result {
                Ok(()) => {
                    sent += 1;
                    tracing::info!(mail = m.id, kind = m.kind, recipients = to.len(), "mail sent");
                    ProtectionChange::MailSent { id: m.id, attempts, at }
                }
                Err(failure) => {
                    let (next, error) = match failure {
                        Failure::Retry(e) => {
                            ((attempts < MAX_MAIL_ATTEMPTS).then(|| at.saturating_add(backoff(attempts))), e)
                        }
                        Failure::Final(e) => (None, e.to_owned()),
                    };
                    tracing::warn!(mail = m.id, kind = m.kind, attempts, retry = next.is_some(), %error, "mail not sent");
                    ProtectionChange::MailFailed { id: m.id, attempts, next_attempt_at: next, error, at }
                }
            };
            self.store.commit(vec![Change::Protection(change)]).await?;
        }
        Ok(sent)
    }

    pub async fn list_mail(&self, limit: u32) -> Result<Vec<OutboundMail>, AppError> {
        Ok(self.store.list_mail(limit).await?)
    }
}

/// The pause before attempt `attempts + 1`: 30 s, doubling, at most an hour.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(30u64.saturating_mul(1 << attempts.saturating_sub(1).min(7)).min(3600))
}

/// Subject and body, Russian first, then English. Times are UTC.
fn compose(m: &OutboundMail, issuer: &str) -> (String, String) {
    let d: Value = serde_json::from_str(&m.detail).unwrap_or(Value::Null);
    let text = |k: &str| d[k].as_str().map(str::to_owned).unwrap_or_else(|| d[k].to_string());
    let login = m.login.as_deref().unwrap_or("-");
    let network = m.network.as_deref().unwrap_or("-");
    let at = m.created_at.to_human();
    match m.kind {
        "lock" => {
            let (failures, until) = (text("failures"), text("until"));
            let (until_ru, until_en) = if until == "permanent" {
                ("до разблокировки администратором".to_owned(), "until an administrator unlocks it".to_owned())
            } else {
                (format!("до {until} UTC"), format!("until {until} UTC"))
            };
            (
                format!("Вход в учётную запись {login} заблокирован / Sign-in to account {login} locked"),
                format!(
                    "Здравствуйте!\n\n\
                     В учётную запись {login} {failures} раз подряд ввели неверный пароль, поэтому вход в неё \
                     заблокирован {until_ru}.\n\n\
                     Если это были вы, дождитесь окончания блокировки или обратитесь к администратору ЭИОС.\n\
                     Если это были не вы, кто-то пытается подобрать ваш пароль. Если пароль мог стать известен \
                     посторонним, сообщите о компрометации: {issuer}/compromised\n\n\
                     Мы никогда не присылаем пароли и не просим их сообщить.\n\n\
                     ----\n\n\
                     Hello,\n\n\
                     A wrong password was entered for the account {login} {failures} times in a row, so signing in \
                     to it is locked {until_en}.\n\n\
                     If it was you, wait for the lock to end or ask the ЭИОС administrator.\n\
                     If it was not you, someone is trying to guess your password. If it may be known to others, \
                     report the account compromised: {issuer}/compromised\n\n\
                     We never send passwords or ask for them.\n"
                ),
            )
        }
        "compromise" => {
            let (how_ru, how_en) = match text("via").as_str() {
                "lock_code" => ("по коду блокировки, без входа", "with the lock code, without signing in"),
                "personal_account" => ("кнопкой в личном кабинете", "with the button in the personal account"),
                _ => ("", ""),
            };
            (
                format!("Учётная запись {login} объявлена скомпрометированной / Account {login} reported compromised"),
                format!(
                    "Учётная запись {login} объявлена скомпрометированной {how_ru} ({at} UTC, адрес {network}).\n\
                     Все её сеансы и токены завершены, подключённым сервисам отправлен выход, вход закрыт.\n\
                     Проверьте недавние входы (propusk user show {login}) и восстановите доступ: \
                     propusk user restore {login}. Очередь событий: propusk user events.\n\n\
                     ----\n\n\
                     The account {login} was reported compromised {how_en} ({at} UTC, address {network}).\n\
                     Every session and token of it has ended, connected services were told to sign it out, and \
                     signing in is closed.\n\
                     Check its recent sign-ins (propusk user show {login}) and restore it: \
                     propusk user restore {login}. Event queue: propusk user events.\n"
                ),
            )
        }
        _ => {
            let (n, until) = (text("distinct_logins"), text("until"));
            (
                format!("Подбор паролей из сети {network} / Password spraying from {network}"),
                format!(
                    "Из сети {network} не удались входы в {n} разных учётных записей ({at} UTC): похоже на подбор \
                     паролей. Сеть заблокирована до {until} UTC.\n\
                     Очередь событий: propusk user events.\n\n\
                     ----\n\n\
                     Sign-ins to {n} different accounts failed from the network {network} ({at} UTC): this looks \
                     like password spraying. The network is blocked until {until} UTC.\n\
                     Event queue: propusk user events.\n"
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::app::testing;
    use crate::ports::Clock as _;

    /// Records what it is asked to send; fails while `down` is set.
    #[derive(Default)]
    struct Outbox {
        sent: Mutex<Vec<(Vec<String>, String, String)>>,
        down: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl MailSender for Outbox {
        async fn send(&self, to: &[String], subject: &str, body: &str) -> Result<(), String> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err("connection refused".into());
            }
            self.sent.lock().expect("lock").push((to.to_vec(), subject.to_owned(), body.to_owned()));
            Ok(())
        }
    }

    fn queued(app: &App, kind: &'static str, to: Option<&str>) -> Change {
        let mut m = OutboundMail::new(kind, to.map(str::to_owned), app.clock.now());
        m.login = Some("ivanova.a".into());
        m.network = Some("203.0.113.0/24".into());
        m.detail = match kind {
            "lock" => json!({ "failures": 5, "until": "2027-01-15 08:30" }),
            "compromise" => json!({ "via": "lock_code" }),
            _ => json!({ "distinct_logins": 20, "until": "2027-01-15 09:00" }),
        }
        .to_string();
        Change::Protection(ProtectionChange::QueueMail(m))
    }

    #[tokio::test]
    async fn failures_are_retried_with_a_growing_pause_then_sent() {
        let (app, clock) = testing::app().await;
        app.store.commit(vec![queued(&app, "lock", Some("ivanova@college.example"))]).await.expect("queue");
        let out = Outbox::default();
        out.down.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(app.deliver_mail(Some(&out), &[]).await.expect("deliver"), 0);
        let m = &app.list_mail(1).await.expect("list")[0];
        assert_eq!((m.attempts, m.last_error.as_deref(), m.sent_at), (1, Some("connection refused"), None));
        assert_eq!(m.next_attempt_at.since(clock.now()), Duration::from_secs(30));
        assert_eq!(app.deliver_mail(Some(&out), &[]).await.expect("deliver"), 0, "not due yet");
        clock.advance(Duration::from_secs(30));
        app.deliver_mail(Some(&out), &[]).await.expect("deliver");
        let m = &app.list_mail(1).await.expect("list")[0];
        assert_eq!(m.attempts, 2);
        assert_eq!(m.next_attempt_at.since(clock.now()), Duration::from_secs(60), "the pause doubles");
        out.down.store(false, std::sync::atomic::Ordering::SeqCst);
        clock.advance(Duration::from_secs(60));
        assert_eq!(app.deliver_mail(Some(&out), &[]).await.expect("deliver"), 1);
        let m = &app.list_mail(1).await.expect("list")[0];
        assert_eq!((m.attempts, m.sent_at, m.last_error.as_deref()), (3, Some(clock.now()), None));
        let sent = out.sent.lock().expect("lock").clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, ["ivanova@college.example"]);
        assert!(sent[0].1.starts_with("Вход в учётную запись ivanova.a заблокирован"));
        let body = &sent[0].2;
        assert!(body.find("Здравствуйте").expect("Russian") < body.find("Hello").expect("English"), "Russian first");
        assert!(body.contains("5 раз подряд") && body.contains("до 2027-01-15 08:30 UTC"));
        assert!(body.contains("https://sso.college.example/compromised"));
    }

    #[tokio::test]
    async fn a_message_is_given_up_after_the_last_attempt() {
        let (app, clock) = testing::app().await;
        app.store.commit(vec![queued(&app, "spraying", None)]).await.expect("queue");
        let out = Outbox::default();
        out.down.store(true, std::sync::atomic::Ordering::SeqCst);
        let officers = ["officer@college.example".to_owned()];
        for _ in 0..MAX_MAIL_ATTEMPTS {
            app.deliver_mail(Some(&out), &officers).await.expect("deliver");
            clock.advance(Duration::from_secs(3600));
        }
        let m = &app.list_mail(1).await.expect("list")[0];
        assert_eq!(m.attempts, MAX_MAIL_ATTEMPTS);
        assert!(m.failed_at.is_some() && m.sent_at.is_none());
        assert!(app.store.list_due_mail(clock.now(), 10).await.expect("due").is_empty(), "no more attempts");
    }

    #[tokio::test]
    async fn officers_get_reports_and_nothing_is_tried_without_a_server_or_recipients() {
        let (app, _) = testing::app().await;
        app.store.commit(vec![queued(&app, "compromise", None)]).await.expect("queue");
        let out = Outbox::default();
        app.deliver_mail(Some(&out), &[]).await.expect("deliver");
        let m = &app.list_mail(1).await.expect("list")[0];
        assert!(m.failed_at.is_some());
        assert!(m.last_error.as_deref().is_some_and(|e| e.contains("mail.security_officers")));
        app.store.commit(vec![queued(&app, "lock", Some("a@college.example"))]).await.expect("queue");
        app.deliver_mail(None, &[]).await.expect("deliver");
        let m = &app.list_mail(1).await.expect("list")[0];
        assert!(m.last_error.as_deref().is_some_and(|e| e.contains("mail.host")));
        app.store.commit(vec![queued(&app, "compromise", None)]).await.expect("queue");
        let officers = ["officer@college.example".to_owned(), "ciso@college.example".to_owned()];
        assert_eq!(app.deliver_mail(Some(&out), &officers).await.expect("deliver"), 1);
        let sent = out.sent.lock().expect("lock").clone();
        assert_eq!(sent[0].0, officers);
        assert!(sent[0].1.contains("ivanova.a"));
        assert!(sent[0].2.contains("по коду блокировки") && sent[0].2.contains("with the lock code"));
        assert!(sent[0].2.contains("propusk user restore ivanova.a"));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let pauses: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(pauses, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }
}
