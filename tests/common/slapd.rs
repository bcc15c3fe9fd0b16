//! A real OpenLDAP `slapd` for the LDAP tests: configured from scratch in a private
//! directory (slapd.conf with the mdb backend, the memberof and ppolicy overlays, LDAPS
//! with a CA generated here), started on free loopback ports, seeded with a small
//! college, stopped and removed when dropped. Needs the Debian packages `slapd` and
//! `ldap-utils` (`scripts/test` installs them).

#![allow(dead_code)]

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};

pub const BASE: &str = "dc=college,dc=example";
pub const PEOPLE: &str = "ou=people,dc=college,dc=example";
pub const ADMIN_DN: &str = "cn=admin,dc=college,dc=example";
pub const ADMIN_PW: &str = "admin-secret";
pub const SERVICE_DN: &str = "cn=propusk,ou=services,dc=college,dc=example";
pub const SERVICE_PW: &str = "service-secret";
pub const ARCHIVE: &str = "ou=archive,dc=college,dc=example";

/// People of the seed: (uid, password).
pub const IVANOV: (&str, &str) = ("ivanov.ii", "Ivanov-Pass-2026");
pub const PETROVA: (&str, &str) = ("petrova.aa", "Petrova-Pass-2026");
pub const BARE: (&str, &str) = ("bez.atributov", "Bare-Pass-2026");
pub const EXPIRED: (&str, &str) = ("old.pass", "Old-Pass-2026");
pub const TWIN: &str = "dvoinik";
pub const ODD_UID: &str = "star*(x)\\y";
pub const CYRILLIC_UID: &str = "иванов";

pub fn dn(uid: &str) -> String {
    format!("uid={uid},{PEOPLE}")
}

pub struct Slapd {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub tls_port: u16,
    /// The test CA that signed slapd's certificate.
    pub ca: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind").local_addr().expect("addr").port()
}

impl Slapd {
    /// Configures, starts and seeds a directory.
    pub fn start() -> Slapd {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir(d.join("data")).expect("data dir");
        let (ca, cert, key) = certificates();
        std::fs::write(d.join("ca.pem"), ca).expect("ca");
        std::fs::write(d.join("server.pem"), cert).expect("cert");
        std::fs::write(d.join("server.key"), key).expect("key");
        std::fs::write(d.join("slapd.conf"), config(&d.display().to_string())).expect("conf");
        let mut s = Slapd { child: None, port: free_port(), tls_port: free_port(), ca: d.join("ca.pem"), dir };
        s.resume();
        s.ldapadd(&seed());
        s
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.tls_port)
    }

    /// Starts slapd (again) on the same ports and data, and waits until it answers.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let d = self.dir.path();
        let child = Command::new("/usr/sbin/slapd")
            .args(["-f", &d.join("slapd.conf").display().to_string()])
            .args(["-h", &format!("{}/ {}/", self.url(), self.ldaps_url())])
            .args(["-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(d.join("slapd.log")).expect("log")))
            .spawn()
            .expect("start slapd (apt-get install slapd ldap-utils)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            assert!(Instant::now() < deadline, "slapd did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops slapd (SIGTERM) and waits for it to exit; the data stay.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    fn tool(&self, name: &str, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write as _;
        let mut child = Command::new(name)
            .args(args)
            .env("LDAPTLS_CACERT", &self.ca)
            .env("LDAPNOINIT", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {e} (apt-get install ldap-utils)"));
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        child.wait_with_output().expect("wait")
    }

    /// Adds entries as the directory's administrator.
    pub fn ldapadd(&self, ldif: &str) {
        let out = self.tool("ldapadd", &["-x", "-H", &self.url(), "-D", ADMIN_DN, "-w", ADMIN_PW], Some(ldif));
        assert!(out.status.success(), "ldapadd: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Modifies entries as the directory's administrator.
    pub fn ldapmodify(&self, ldif: &str) {
        let out = self.tool("ldapmodify", &["-x", "-H", &self.url(), "-D", ADMIN_DN, "-w", ADMIN_PW], Some(ldif));
        assert!(out.status.success(), "ldapmodify: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A plain simple bind with the command-line client, as an application would.
    pub fn whoami(&self, dn: &str, password: &str) -> bool {
        self.tool("ldapwhoami", &["-x", "-H", &self.url(), "-D", dn, "-w", password], None).status.success()
    }

    /// `ldapsearch` as the administrator (LDIF, operational attributes included).
    pub fn search(&self, base: &str, filter: &str) -> String {
        let out = self.tool(
            "ldapsearch",
            &[
                "-x",
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-H",
                &self.url(),
                "-D",
                ADMIN_DN,
                "-w",
                ADMIN_PW,
                "-b",
                base,
                filter,
                "*",
                "+",
            ],
            None,
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The server's `[directory]` settings for this directory, as environment variables.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("PROPUSK_DIRECTORY_KIND", "ldap".to_owned()),
            ("PROPUSK_DIRECTORY_URLS", self.ldaps_url()),
            ("PROPUSK_DIRECTORY_CA_FILE", self.ca.display().to_string()),
            ("PROPUSK_DIRECTORY_PROFILE", "openldap".into()),
            ("PROPUSK_DIRECTORY_BIND_DN", SERVICE_DN.into()),
            ("PROPUSK_DIRECTORY_BIND_PASSWORD", SERVICE_PW.into()),
            ("PROPUSK_DIRECTORY_BASE", BASE.into()),
            ("PROPUSK_DIRECTORY_NAME_ATTRIBUTE", "displayName".into()),
            ("PROPUSK_DIRECTORY_GROUPS_STUDENT", format!("cn=students,ou=groups,{BASE}")),
            ("PROPUSK_DIRECTORY_GROUPS_TEACHER", "teachers".into()),
            ("PROPUSK_DIRECTORY_GROUPS_EIOS_ADMIN", "eios-admins".into()),
            ("PROPUSK_DIRECTORY_CONNECT_TIMEOUT_SECONDS", "2".into()),
            ("PROPUSK_DIRECTORY_OPERATION_TIMEOUT_SECONDS", "2".into()),
            ("PROPUSK_DIRECTORY_SYNC_INTERVAL_MINUTES", "0".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A CA and a certificate for 127.0.0.1 and localhost signed by it, as PEM.
pub fn certificates() -> (String, String, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name.push(DnType::CommonName, "propusk test directory CA");
    let ca_key = KeyPair::generate().expect("key");
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    leaf.subject_alt_names.push(SanType::IpAddress(Ipv4Addr::LOCALHOST.into()));
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().expect("key");
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).expect("leaf");
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

fn config(dir: &str) -> String {
    format!(
        "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
moduleload memberof
pidfile {dir}/slapd.pid
TLSCACertificateFile {dir}/ca.pem
TLSCertificateFile {dir}/server.pem
TLSCertificateKeyFile {dir}/server.key
sizelimit unlimited
database mdb
suffix \"{BASE}\"
rootdn \"{ADMIN_DN}\"
rootpw {ADMIN_PW}
directory {dir}/data
maxsize 104857600
index objectClass eq
index uid eq
index member eq
overlay memberof
overlay ppolicy
ppolicy_default \"cn=default,ou=policies,{BASE}\"
access to attrs=userPassword by dn.exact=\"{SERVICE_DN}\" manage by self write by anonymous auth by * none
access to * by dn.exact=\"{SERVICE_DN}\" manage by * read
"
    )
}

/// The seed: a college with people, groups, a service account and two password policies
/// (the default honours locks written to `pwdAccountLockedTime`; `short` expires at once).
pub fn seed() -> String {
    let person = |uid: &str, extra: &str, pw: &str| {
        format!(
            "dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\n{extra}userPassword: {pw}\n\n"
        )
    };
    let uid64 = |uid: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(uid)
    };
    let mut s = format!(
        "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: College\ndc: college\n\n\
         dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=staff,{BASE}\nobjectClass: organizationalUnit\nou: staff\n\n\
         dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: ou=services,{BASE}\nobjectClass: organizationalUnit\nou: services\n\n\
         dn: ou=policies,{BASE}\nobjectClass: organizationalUnit\nou: policies\n\n\
         dn: {ARCHIVE}\nobjectClass: organizationalUnit\nou: archive\n\n\
         dn: cn=default,ou=policies,{BASE}\nobjectClass: pwdPolicy\nobjectClass: device\ncn: default\n\
         pwdAttribute: userPassword\npwdLockout: TRUE\n\n\
         dn: cn=short,ou=policies,{BASE}\nobjectClass: pwdPolicy\nobjectClass: device\ncn: short\n\
         pwdAttribute: userPassword\npwdMaxAge: 1\npwdGraceAuthNLimit: 0\n\n\
         dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: propusk\n\
         userPassword: {SERVICE_PW}\n\n"
    );
    s += &person(
        IVANOV.0,
        "displayName:: 0JjQstCw0L3QvtCyINCY0LLQsNC9INCY0LvRjNC40Yc=\nmail: ivanov@college.example\n\
         departmentNumber:: 0JjQoS0yMQ==\nemployeeNumber: S-1001\nou: it\n",
        IVANOV.1,
    );
    s += &person(PETROVA.0, "displayName: Petrova Anna\nmail: petrova@college.example\n", PETROVA.1);
    s += &person(BARE.0, "", BARE.1);
    s += &person(EXPIRED.0, &format!("pwdPolicySubentry: cn=short,ou=policies,{BASE}\n"), EXPIRED.1);
    s += &person(TWIN, "", "Twin-Pass-2026");
    s += &format!(
        "dn: uid={TWIN},ou=staff,{BASE}\nobjectClass: inetOrgPerson\nuid: {TWIN}\ncn: twin\nsn: twin\n\
         userPassword: Twin-Pass-2026\n\n"
    );
    for uid in [ODD_UID, CYRILLIC_UID] {
        s += &format!(
            "dn: cn={},{PEOPLE}\nobjectClass: inetOrgPerson\nuid:: {}\ncn: {}\nsn: odd\nuserPassword: Odd-Pass-2026\n\n",
            hex::encode(uid),
            uid64(uid),
            hex::encode(uid)
        );
    }
    let group = |cn: &str, members: &[&str]| {
        let m: String = members.iter().map(|u| format!("member: {}\n", dn(u))).collect();
        format!("dn: cn={cn},ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: {cn}\n{m}\n")
    };
    s += &group("students", &[IVANOV.0, BARE.0]);
    s += &group("teachers", &[PETROVA.0]);
    s += &group("eios-admins", &[PETROVA.0]);
    s
}
