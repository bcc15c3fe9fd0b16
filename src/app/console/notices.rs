//! The "I cannot sign in" queue and announcements (R-17, D-4).

use super::*;

/// A request filed from the public "I cannot sign in" form.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct RequestForm {
    pub login: String,
    pub full_name: String,
    pub contact: String,
    pub message: String,
}

/// A new announcement.
#[derive(Debug, Clone)]
pub struct AnnouncementForm {
    pub kind: AnnouncementKind,
    pub text_ru: String,
    pub text_en: String,
    /// Role ids; empty for everyone.
    pub audience: Vec<String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
}

impl App {
    /// the public form. The login is kept as typed and never looked up, so the
    /// answer is the same for any login.
    pub async fn file_request(&self, form: RequestForm, ip: Option<&str>) -> Result<String, AppError> {
        let login = bounded("login", &form.login, 64, true)?;
        let full_name = bounded("full_name", &form.full_name, MAX_SHORT, true)?;
        let contact = bounded("contact", &form.contact, MAX_SHORT, true)?;
        let message = bounded("message", &form.message, MAX_LONG, false)?;
        let now = self.clock.now();
        let id = random_id();
        let request = AccessRequest {
            id: id.clone(),
            created_at: now,
            login,
            full_name,
            contact,
            message,
            ip: ip.map(str::to_owned),
            status: RequestStatus::New,
            assignee: None,
            outcome: None,
            updated_at: now,
        };
        let audit = self.audit("anonymous", "request.file", None, ip, format!("request={id}"));
        self.store
            .commit(vec![Change::Console(ConsoleChange::InsertRequest(request)), Change::InsertAudit(audit)])
            .await?;
        Ok(id)
    }

    pub async fn requests(&self, who: &ConsoleUser, all: bool) -> Result<Vec<AccessRequest>, AppError> {
        self.require(who, Permission::HandleRequests, "requests.list").await?;
        Ok(self.store.list_requests(all, 500).await?)
    }

    /// Takes a new request, or closes one in progress with an outcome (done or rejected).
    pub async fn move_request(
        &self,
        who: &ConsoleUser,
        id: &str,
        to: RequestStatus,
        outcome: &str,
    ) -> Result<AccessRequest, AppError> {
        self.require(who, Permission::HandleRequests, "requests.update").await?;
        let current = self.store.find_request(id).await?.ok_or(AppError::NotFound("request"))?;
        let outcome = bounded("outcome", outcome, MAX_LONG, !to.is_open())?;
        let allowed = matches!(
            (current.status, to),
            (RequestStatus::New, RequestStatus::InProgress)
                | (RequestStatus::New | RequestStatus::InProgress, RequestStatus::Done | RequestStatus::Rejected)
        );
        if !allowed {
            return Err(AppError::Invalid(format!(
                "a request that is {} cannot become {}",
                current.status.as_str(),
                to.as_str()
            )));
        }
        let now = self.clock.now();
        let change = ConsoleChange::UpdateRequest {
            id: id.to_owned(),
            from: current.status,
            to,
            assignee: Some(who.actor.name.clone()),
            outcome: Some(outcome.clone()).filter(|o| !o.is_empty()),
            at: now,
        };
        let audit = self.audit(
            &who.actor.name,
            "request.update",
            None,
            who.actor.ip.as_deref(),
            format!("request={id} status={} outcome={outcome}", to.as_str()),
        );
        match self.store.commit(vec![Change::Console(change), Change::InsertAudit(audit)]).await {
            Ok(()) => {}
            Err(crate::ports::StoreError::NotFound(_)) => {
                return Err(AppError::Invalid("the request was changed by someone else; reload the page".into()));
            }
            Err(e) => return Err(e.into()),
        }
        self.store.find_request(id).await?.ok_or(AppError::NotFound("request"))
    }

    pub async fn announce(&self, who: &ConsoleUser, form: AnnouncementForm) -> Result<Announcement, AppError> {
        self.require(who, Permission::ManageNotices, "notices.create").await?;
        let text_ru = bounded("text_ru", &form.text_ru, MAX_LONG, true)?;
        let text_en = bounded("text_en", &form.text_en, MAX_LONG, false)?;
        let mut audience = Vec::new();
        for a in &form.audience {
            let role: Role =
                a.parse().map_err(|e: crate::domain::account::UnknownRole| AppError::Invalid(e.to_string()))?;
            audience.push(role.as_str().to_owned());
        }
        audience.sort();
        audience.dedup();
        if form.kind == AnnouncementKind::SignInNotice && !audience.is_empty() {
            return Err(AppError::Invalid(
                "audience: a notice to acknowledge before sign-in is for everyone (nobody is known yet)".into(),
            ));
        }
        let now = self.clock.now();
        if form.ends_at <= form.starts_at {
            return Err(AppError::Invalid("ends_at: must be after starts_at".into()));
        }
        if form.ends_at <= now {
            return Err(AppError::Invalid("ends_at: must be in the future".into()));
        }
        let a = Announcement {
            id: random_id(),
            kind: form.kind,
            text_ru,
            text_en,
            audience,
            starts_at: form.starts_at,
            ends_at: form.ends_at,
            created_by: who.actor.name.clone(),
            created_at: now,
            withdrawn_at: None,
        };
        let audit = self.audit(
            &who.actor.name,
            "notice.create",
            None,
            who.actor.ip.as_deref(),
            format!("notice={} kind={} audience={}", a.id, a.kind.as_str(), a.audience.join(",")),
        );
        self.store
            .commit(vec![Change::Console(ConsoleChange::InsertAnnouncement(a.clone())), Change::InsertAudit(audit)])
            .await?;
        Ok(a)
    }

    pub async fn withdraw_announcement(&self, who: &ConsoleUser, id: &str) -> Result<(), AppError> {
        self.require(who, Permission::ManageNotices, "notices.withdraw").await?;
        let now = self.clock.now();
        let audit =
            self.audit(&who.actor.name, "notice.withdraw", None, who.actor.ip.as_deref(), format!("notice={id}"));
        self.store
            .commit(vec![
                Change::Console(ConsoleChange::WithdrawAnnouncement { id: id.to_owned(), at: now }),
                Change::InsertAudit(audit),
            ])
            .await?;
        Ok(())
    }

    pub async fn console_announcements(&self, who: &ConsoleUser) -> Result<Vec<Announcement>, AppError> {
        self.require(who, Permission::ManageNotices, "notices.list").await?;
        Ok(self.store.list_announcements(self.clock.now(), 200).await?)
    }

    /// Announcements in force for someone with `roles` (`None`: not signed in, so only
    /// those for everyone).
    pub async fn announcements_for(&self, roles: Option<&Roles>) -> Result<Vec<Announcement>, AppError> {
        let all = self.store.current_announcements(self.clock.now()).await?;
        Ok(all
            .into_iter()
            .filter(|a| {
                a.audience.is_empty()
                    || roles.is_some_and(|r| r.iter().any(|role| a.audience.iter().any(|x| x == role.as_str())))
            })
            .collect())
    }
}
