//! The LDAP operations behind the adapter: searches (paged), people's binds with the
//! password policy control, lock write-back, erasure and password changes. A connection
//! that fails is dropped and the operation tried once more (on the next server).

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::controls::RawControl;
use ldap3::exop::PasswordModify;
use ldap3::{Ldap, LdapError, LdapResult, Mod, Scope, SearchEntry};

use super::escape::dn_value;
use super::profile::{self, AttrChange, Profile, Refusal};
use super::{LdapDirectory, unavailable};
use crate::domain::password::Password;
use crate::ports::directory::{BindOutcome, DirectoryEntry, DirectoryError};

/// draft-behera-ldap-password-policy: the request and response control.
const PPOLICY_OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";
/// Result codes (RFC 4511 §4.1.9) that mean "nothing to do" for the write that got them.
const NO_SUCH_OBJECT: u32 = 32;
const NO_SUCH_ATTRIBUTE: u32 = 16;
const UNDEFINED_TYPE: u32 = 17;
/// busy, unavailable, other: the server cannot answer now.
const UNAVAILABLE_CODES: [u32; 3] = [51, 52, 80];

type Op<T> = Pin<Box<dyn Future<Output = Result<T, LdapError>> + Send>>;

impl LdapDirectory {
    /// Runs `op` on the service connection; a failed connection is replaced once.
    async fn with_service<T>(&self, op: impl Fn(Ldap) -> Op<T>) -> Result<T, DirectoryError> {
        let mut last = None;
        for _ in 0..2 {
            let ldap = self.service().await?;
            match op(ldap).await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    tracing::warn!(error = %e, "directory operation failed; reconnecting");
                    self.drop_service().await;
                    last = Some(e);
                }
            }
        }
        Err(last.map(unavailable).unwrap_or_else(|| DirectoryError::Unavailable("no attempt".into())))
    }

    /// A paged search as the service account; `noSuchObject` is an empty answer.
    pub(super) async fn search_raw(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: Vec<String>,
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let timeout = self.s.operation_timeout;
        let (base, filter) = (base.to_owned(), filter.to_owned());
        let (entries, res) = self
            .with_service(|mut l| {
                let (base, filter, attrs) = (base.clone(), filter.clone(), attrs.clone());
                Box::pin(async move {
                    let adapters: Vec<Box<dyn Adapter<String, Vec<String>>>> =
                        vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(500))];
                    let mut stream =
                        l.with_timeout(timeout).streaming_search_with(adapters, &base, scope, &filter, attrs).await?;
                    let mut out = Vec::new();
                    while let Some(re) = stream.next().await? {
                        out.push(re);
                    }
                    Ok((out, stream.finish().await))
                })
            })
            .await?;
        match res.rc {
            0 => {}
            NO_SUCH_OBJECT => return Ok(Vec::new()),
            _ => return Err(answer("search", &res)),
        }
        // `construct` panics on an entry it cannot parse: such an entry is skipped.
        Ok(entries
            .into_iter()
            .filter_map(|re| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SearchEntry::construct(re))).ok())
            .collect())
    }

    /// People under the base matching `filter`, mapped by the profile. Entries without a
    /// login attribute are skipped with a warning.
    pub(super) async fn search_entries(&self, filter: &str) -> Result<Vec<DirectoryEntry>, DirectoryError> {
        let attrs = self.s.attributes.requested(self.s.profile);
        let found = self.search_raw(&self.s.base, Scope::Subtree, filter, attrs).await?;
        let mut out = Vec::with_capacity(found.len());
        for e in found {
            let nested = match self.s.profile.nested_groups_filter(&e.dn) {
                Some(f) => self
                    .search_raw(&self.s.base, Scope::Subtree, &f, vec!["1.1".into()])
                    .await?
                    .into_iter()
                    .map(|g| g.dn)
                    .collect(),
                None => Vec::new(),
            };
            let attrs = profile::lowered(e.attrs);
            match self.s.attributes.entry(self.s.profile, &self.s.groups, &e.dn, &attrs, &nested) {
                Ok(entry) => out.push(entry),
                Err(why) => tracing::warn!(%why, "directory entry skipped"),
            }
        }
        Ok(out)
    }

    /// Binds as `entry` with `password` on a pooled connection.
    pub(super) async fn bind_as(
        &self,
        entry: DirectoryEntry,
        password: &Password,
    ) -> Result<BindOutcome, DirectoryError> {
        // RFC 4513 §5.1.2: a simple bind with an empty password is an unauthenticated
        // bind, which succeeds without checking anything.
        if password.expose().is_empty() {
            return Ok(BindOutcome::WrongPassword(entry));
        }
        let mut last = None;
        for _ in 0..2 {
            let (mut ldap, _permit) = self.bind_conn().await?;
            let ctrl = RawControl { ctype: PPOLICY_OID.into(), crit: false, val: None };
            let res = ldap
                .with_timeout(self.s.operation_timeout)
                .with_controls(vec![ctrl])
                .simple_bind(&entry.dn, password.expose())
                .await;
            let res = match res {
                Ok(r) => r,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            self.give_back(ldap);
            if res.rc == 0 {
                return Ok(BindOutcome::Authenticated(entry));
            }
            if UNAVAILABLE_CODES.contains(&res.rc) {
                return Err(answer("bind", &res));
            }
            let pp = res
                .ctrls
                .iter()
                .find(|c| c.1.ctype == PPOLICY_OID)
                .and_then(|c| c.1.val.as_deref())
                .and_then(profile::ppolicy_error);
            return Ok(match self.s.profile.refusal(res.rc, &res.text, pp) {
                // A directory need not say that an entry is locked (slapd does not): the
                // lock read with the entry explains the refusal then.
                Refusal::WrongPassword if entry.disabled => BindOutcome::Disabled(entry),
                Refusal::WrongPassword => BindOutcome::WrongPassword(entry),
                Refusal::PasswordExpired => BindOutcome::PasswordExpired(entry),
                Refusal::Disabled => BindOutcome::Disabled(entry),
            });
        }
        Err(last.map(unavailable).unwrap_or_else(|| DirectoryError::Unavailable("no attempt".into())))
    }

    /// Sets or clears the entry's own lock.
    pub(super) async fn write_lock(&self, entry: &DirectoryEntry, disabled: bool) -> Result<(), DirectoryError> {
        let current_uac = if self.s.profile == Profile::ActiveDirectory {
            let attr = self.s.profile.lock_attribute();
            let found = self.search_raw(&entry.dn, Scope::Base, "(objectClass=*)", vec![attr.into()]).await?;
            let attrs = found.into_iter().next().map(|e| profile::lowered(e.attrs)).unwrap_or_default();
            attrs.get("useraccountcontrol").and_then(|v| v.first()).and_then(|v| v.parse().ok())
        } else {
            None
        };
        for change in self.s.profile.lock_changes(disabled, current_uac) {
            let res = self.modify(&entry.dn, vec![to_mod(&change)]).await?;
            if res.rc != 0 && res.rc != NO_SUCH_ATTRIBUTE {
                return Err(answer("modify", &res));
            }
        }
        tracing::info!(dn = %entry.dn, disabled, "directory lock written");
        Ok(())
    }

    async fn modify(&self, dn: &str, mods: Vec<Mod<Vec<u8>>>) -> Result<LdapResult, DirectoryError> {
        let timeout = self.s.operation_timeout;
        let dn = dn.to_owned();
        self.with_service(|mut l| {
            let (dn, mods) = (dn.clone(), mods.clone());
            Box::pin(async move { l.with_timeout(timeout).modify(&dn, mods).await })
        })
        .await
    }

    pub(super) async fn delete_entry(&self, dn: &str) -> Result<(), DirectoryError> {
        let timeout = self.s.operation_timeout;
        let owned = dn.to_owned();
        let res = self
            .with_service(|mut l| {
                let dn = owned.clone();
                Box::pin(async move { l.with_timeout(timeout).delete(&dn).await })
            })
            .await?;
        match res.rc {
            0 | NO_SUCH_OBJECT => Ok(()),
            _ => Err(answer("delete", &res)),
        }
    }

    /// Removes personal attributes one by one (an attribute the schema does not know, or
    /// that the entry lacks, is skipped); required naming attributes get the login.
    pub(super) async fn strip_personal(&self, entry: &DirectoryEntry) -> Result<(), DirectoryError> {
        let a = &self.s.attributes;
        let mut delete: Vec<&str> = vec![
            "mail",
            "displayName",
            "givenName",
            "telephoneNumber",
            "mobile",
            "homePhone",
            "postalAddress",
            "jpegPhoto",
            "initials",
            "title",
        ];
        delete.extend([a.email.as_str(), a.study_group.as_str(), a.department.as_str(), a.external_id.as_str()]);
        if a.name != "cn" {
            delete.push(a.name.as_str());
        }
        let mut mods: Vec<Mod<Vec<u8>>> = delete
            .into_iter()
            .filter(|n| !n.is_empty())
            .map(|n| Mod::Replace(n.as_bytes().to_vec(), HashSet::new()))
            .collect();
        if self.s.profile != Profile::ActiveDirectory {
            for must in ["cn", "sn"] {
                mods.push(Mod::Replace(must.as_bytes().to_vec(), HashSet::from([entry.login.as_bytes().to_vec()])));
            }
        }
        for m in mods {
            let res = self.modify(&entry.dn, vec![m]).await?;
            if ![0, NO_SUCH_ATTRIBUTE, UNDEFINED_TYPE, 65, 19].contains(&res.rc) {
                return Err(answer("modify", &res));
            }
        }
        Ok(())
    }

    /// Moves the entry under `ou`, renamed after its login (RFC 4514 escaping), so that
    /// its name carries no personal data either.
    pub(super) async fn move_to_archive(&self, entry: &DirectoryEntry, ou: &str) -> Result<(), DirectoryError> {
        let rdn_attr = if self.s.profile == Profile::ActiveDirectory { "cn" } else { self.s.attributes.login.as_str() };
        let rdn = format!("{rdn_attr}={}", dn_value(&entry.login));
        let timeout = self.s.operation_timeout;
        let (dn, ou) = (entry.dn.clone(), ou.to_owned());
        let res = self
            .with_service(|mut l| {
                let (dn, rdn, ou) = (dn.clone(), rdn.clone(), ou.clone());
                Box::pin(async move { l.with_timeout(timeout).modifydn(&dn, &rdn, true, Some(&ou)).await })
            })
            .await?;
        match res.rc {
            0 => Ok(()),
            _ => Err(answer("modify DN", &res)),
        }
    }

    /// RFC 3062 Password Modify (AD: `unicodePwd`). With `old`, as the person, on a bind
    /// connection bound with the old password; without, as the service account.
    pub(super) async fn modify_password(
        &self,
        entry: &DirectoryEntry,
        old: Option<&Password>,
        new: &Password,
    ) -> Result<(), DirectoryError> {
        let timeout = self.s.operation_timeout;
        let ad = self.s.profile == Profile::ActiveDirectory;
        let Some(old) = old else {
            let (dn, new) = (entry.dn.clone(), new.expose().to_owned());
            let res = self
                .with_service(|mut l| {
                    let (dn, new) = (dn.clone(), new.clone());
                    Box::pin(async move {
                        if ad {
                            let v = HashSet::from([profile::ad_unicode_pwd(&new)]);
                            l.with_timeout(timeout).modify(&dn, vec![Mod::Replace(b"unicodePwd".to_vec(), v)]).await
                        } else {
                            let pm = PasswordModify { user_id: Some(&dn), old_pass: None, new_pass: Some(&new) };
                            l.with_timeout(timeout).extended(pm).await.map(|r| r.1)
                        }
                    })
                })
                .await?;
            return if res.rc == 0 { Ok(()) } else { Err(answer("password modify", &res)) };
        };
        let (mut ldap, _permit) = self.bind_conn().await?;
        let bound = ldap.with_timeout(timeout).simple_bind(&entry.dn, old.expose()).await.map_err(unavailable)?;
        if bound.rc != 0 {
            self.give_back(ldap);
            return Err(DirectoryError::Refused("the current password is wrong".into()));
        }
        let res = if ad {
            let mods = vec![
                Mod::Delete(b"unicodePwd".to_vec(), HashSet::from([profile::ad_unicode_pwd(old.expose())])),
                Mod::Add(b"unicodePwd".to_vec(), HashSet::from([profile::ad_unicode_pwd(new.expose())])),
            ];
            ldap.with_timeout(timeout).modify(&entry.dn, mods).await
        } else {
            let pm = PasswordModify { user_id: None, old_pass: Some(old.expose()), new_pass: Some(new.expose()) };
            ldap.with_timeout(timeout).extended(pm).await.map(|r| r.1)
        }
        .map_err(unavailable)?;
        self.give_back(ldap);
        if res.rc == 0 { Ok(()) } else { Err(answer("password modify", &res)) }
    }
}

fn to_mod(c: &AttrChange) -> Mod<Vec<u8>> {
    match c {
        AttrChange::Replace(a, v) => Mod::Replace(a.as_bytes().to_vec(), HashSet::from([v.as_bytes().to_vec()])),
        AttrChange::Delete(a) => Mod::Delete(a.as_bytes().to_vec(), HashSet::new()),
    }
}

/// An answer of the directory that is not success, as an error naming the operation.
fn answer(op: &str, res: &LdapResult) -> DirectoryError {
    let text = format!("{op}: code {} {}", res.rc, res.text);
    if UNAVAILABLE_CODES.contains(&res.rc) { DirectoryError::Unavailable(text) } else { DirectoryError::Refused(text) }
}
