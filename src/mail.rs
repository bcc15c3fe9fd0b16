//! Outbound email over SMTP (lettre on tokio with rustls): implements `MailSender` for the
//! mail worker in `server.rs`. Which messages exist and what they say is `app::notify`'s.

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use crate::config::{MailConfig, MailSecurity};
use crate::ports::protection::MailSender;

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// A mailer for the validated `[mail]` section; the error names the key to fix.
    pub fn new(c: &MailConfig) -> Result<Self, String> {
        let builder = match c.security {
            MailSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.host),
            MailSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&c.host),
            MailSecurity::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host)),
        }
        .map_err(|e| format!("mail.host: {e}"))?;
        let mut builder = builder.port(c.port).timeout(Some(c.timeout));
        if let Some((user, password)) = &c.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.0.clone()));
        }
        let from = c.from.parse().map_err(|e| format!("mail.from: {e}"))?;
        Ok(Self { transport: builder.build(), from })
    }
}

#[async_trait]
impl MailSender for SmtpMailer {
    async fn send(&self, to: &[String], subject: &str, body: &str) -> Result<(), String> {
        let mut message = Message::builder().from(self.from.clone()).subject(subject).header(ContentType::TEXT_PLAIN);
        for address in to {
            message = message.to(address.parse().map_err(|e| format!("recipient address: {e}"))?);
        }
        let message = message.body(body.to_owned()).map_err(|e| format!("message: {e}"))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| format!("SMTP: {e}"))
    }
}
