//! Tables of both transliteration schemes, letter by letter, and of login generation.

use super::*;

/// Every letter of the Russian alphabet, upper case, with its lower case and both schemes.
/// (ГОСТ 7.79-2000 system B, Table 1; ICAO Doc 9303 Part 3 §6.)
const ALPHABET: [(char, char, &str, &str); 33] = [
    ('А', 'а', "a", "a"),
    ('Б', 'б', "b", "b"),
    ('В', 'в', "v", "v"),
    ('Г', 'г', "g", "g"),
    ('Д', 'д', "d", "d"),
    ('Е', 'е', "e", "e"),
    ('Ё', 'ё', "yo", "e"),
    ('Ж', 'ж', "zh", "zh"),
    ('З', 'з', "z", "z"),
    ('И', 'и', "i", "i"),
    ('Й', 'й', "j", "i"),
    ('К', 'к', "k", "k"),
    ('Л', 'л', "l", "l"),
    ('М', 'м', "m", "m"),
    ('Н', 'н', "n", "n"),
    ('О', 'о', "o", "o"),
    ('П', 'п', "p", "p"),
    ('Р', 'р', "r", "r"),
    ('С', 'с', "s", "s"),
    ('Т', 'т', "t", "t"),
    ('У', 'у', "u", "u"),
    ('Ф', 'ф', "f", "f"),
    ('Х', 'х', "x", "kh"),
    ('Ц', 'ц', "cz", "ts"),
    ('Ч', 'ч', "ch", "ch"),
    ('Ш', 'ш', "sh", "sh"),
    ('Щ', 'щ', "shh", "shch"),
    ('Ъ', 'ъ', "``", "ie"),
    ('Ы', 'ы', "y'", "y"),
    ('Ь', 'ь', "`", ""),
    ('Э', 'э', "e`", "e"),
    ('Ю', 'ю', "yu", "iu"),
    ('Я', 'я', "ya", "ia"),
];

#[test]
fn every_letter_in_both_cases_and_both_schemes() {
    for (upper, lower, gost, icao) in ALPHABET {
        for c in [upper, lower] {
            assert_eq!(transliterate(&c.to_string(), Scheme::GostB), gost, "ГОСТ {c}");
            assert_eq!(transliterate(&c.to_string(), Scheme::Icao), icao, "ICAO {c}");
        }
    }
}

#[test]
fn gost_c_before_i_e_y_j_and_cz_elsewhere() {
    let cases = [
        ("цирк", "cirk"),
        ("цех", "cex"),
        ("цыган", "cy'gan"),
        ("цюрих", "cyurix"),
        ("ця", "cya"),
        ("цэ", "ce`"),
        ("цапля", "czaplya"),
        ("отец", "otecz"),
        ("Цуканов", "czukanov"),
        ("цц", "czcz"),
        ("ц-и", "cz-i"),
    ];
    for (ru, lat) in cases {
        assert_eq!(transliterate(ru, Scheme::GostB), lat, "{ru}");
    }
}

#[test]
fn whole_words_in_both_schemes() {
    let cases = [
        ("Щукин", "shhukin", "shchukin"),
        ("Хрущёв", "xrushhyov", "khrushchev"),
        ("Подъячев", "pod``yachev", "podieiachev"),
        ("Юлия", "yuliya", "iuliia"),
        ("Ильич", "il`ich", "ilich"),
        ("Эльвира", "e`l`vira", "elvira"),
        ("Крылов", "kry'lov", "krylov"),
        ("Йошкар-Ола", "joshkar-ola", "ioshkar-ola"),
        ("Tom Сойер", "tom sojer", "tom soier"),
        ("Їжак Ґонта", "yizhak g`onta", "izhak gonta"),
    ];
    for (ru, gost, icao) in cases {
        assert_eq!(transliterate(ru, Scheme::GostB), gost, "ГОСТ {ru}");
        assert_eq!(transliterate(ru, Scheme::Icao), icao, "ICAO {ru}");
    }
}

#[test]
fn names_split_the_russian_way() {
    let cases: [(&str, &str, Option<&str>, Option<&str>); 5] = [
        ("Иванов Иван Петрович", "Иванов", Some("Иван"), Some("Петрович")),
        ("  Иванов   Иван ", "Иванов", Some("Иван"), None),
        ("Иванов", "Иванов", None, None),
        ("Мамедов Али Гусейн оглы", "Мамедов", Some("Али"), Some("Гусейн оглы")),
        ("", "", None, None),
    ];
    for (full, last, first, middle) in cases {
        assert_eq!(PersonName::split(full), PersonName { last, first, middle }, "{full:?}");
    }
}

fn base(full: &str, pattern: &str, scheme: Scheme) -> Option<String> {
    LoginPattern::parse(pattern).expect("pattern").base_login(full, scheme)
}

#[test]
fn logins_from_names() {
    let cases: &[(&str, &str, Scheme, Option<&str>)] = &[
        ("Иванов Иван Петрович", "{last}.{f}{m}", Scheme::GostB, Some("ivanov.ip")),
        ("ИВАНОВ ИВАН ПЕТРОВИЧ", "{last}.{f}{m}", Scheme::GostB, Some("ivanov.ip")),
        ("Иванов Иван", "{last}.{f}{m}", Scheme::GostB, Some("ivanov.i")),
        ("Иванов", "{last}.{f}{m}", Scheme::GostB, Some("ivanov")),
        ("Римский-Корсаков Николай Андреевич", "{last}.{f}{m}", Scheme::GostB, Some("rimskij-korsakov.na")),
        ("Римский-Корсаков Николай Андреевич", "{last}.{f}{m}", Scheme::Icao, Some("rimskii-korsakov.na")),
        ("Королёв Сергей Павлович", "{last}.{f}{m}", Scheme::GostB, Some("korolyov.sp")),
        ("Королёв Сергей Павлович", "{last}.{f}{m}", Scheme::Icao, Some("korolev.sp")),
        ("Щербаков Юрий Эдуардович", "{last}.{f}{m}", Scheme::GostB, Some("shherbakov.ye")),
        ("Щербаков Юрий Эдуардович", "{last}.{f}{m}", Scheme::Icao, Some("shcherbakov.ie")),
        ("Цой Виктор Робертович", "{first}.{last}", Scheme::GostB, Some("viktor.czoj")),
        ("Цой Виктор Робертович", "{first}.{last}", Scheme::Icao, Some("viktor.tsoi")),
        ("Подъячев Ильья", "{f}{last}", Scheme::GostB, Some("ipodyachev")),
        ("Мамедов Али Гусейн оглы", "{last}.{f}{m}", Scheme::GostB, Some("mamedov.ag")),
        ("Мамедов Али Гусейн оглы", "{last}_{middle}", Scheme::GostB, Some("mamedov_gusejn-ogly")),
        ("Иванов Иван Петрович", "{last}{first}{middle}", Scheme::Icao, Some("ivanovivanpetrovich")),
        ("Иванов Иван Петрович", "s.{last}", Scheme::GostB, Some("s.ivanov")),
        ("O'Connor Мэри", "{last}.{f}", Scheme::GostB, Some("oconnor.m")),
        ("Ьъ", "{last}", Scheme::GostB, None),
        ("   ", "{last}.{f}{m}", Scheme::GostB, None),
        ("Иванов - Петров  Иван", "{last}", Scheme::GostB, Some("ivanov")),
    ];
    for &(full, pattern, scheme, want) in cases {
        assert_eq!(base(full, pattern, scheme).as_deref(), want, "{full:?} {pattern} {scheme:?}");
        if let Some(w) = want {
            assert!(Login::parse(w).is_ok(), "{w} is a valid login");
        }
    }
}

#[test]
fn a_missing_part_leaves_no_separator_behind() {
    assert_eq!(base("Иванов", "{last}.{first}.{middle}", Scheme::GostB).as_deref(), Some("ivanov"));
    assert_eq!(base("Иванов Иван", "{first}..{middle}-{last}", Scheme::GostB).as_deref(), Some("ivan.ivanov"));
    // A pattern that would start with a digit or a dot starts with the name instead.
    assert_eq!(base("Иванов Иван", "1.{last}", Scheme::GostB).as_deref(), Some("ivanov"));
}

#[test]
fn long_names_fit_a_login() {
    let long = format!("{} Иван Петрович", "Щ".repeat(40));
    let login = base(&long, "{last}.{f}{m}", Scheme::GostB).expect("login");
    assert_eq!(login.len(), Login::MAX_LEN);
    assert!(Login::parse(&login).is_ok());
    let tenth: Vec<Login> = login_candidates(&long, &LoginPattern::default(), Scheme::GostB).take(10).collect();
    assert_eq!(tenth[9].as_str().len(), Login::MAX_LEN);
    assert!(tenth[9].as_str().ends_with("10"));
}

#[test]
fn candidates_go_on_with_numbers() {
    let pattern = LoginPattern::default();
    let got: Vec<String> = login_candidates("Иванов Иван Петрович", &pattern, Scheme::GostB)
        .take(4)
        .map(|l| l.as_str().to_owned())
        .collect();
    assert_eq!(got, ["ivanov.ip", "ivanov.ip2", "ivanov.ip3", "ivanov.ip4"]);

    // The caller takes the first login not taken.
    let taken = ["ivanov.ip", "ivanov.ip2"];
    let free = login_candidates("Иванов Иван Петрович", &pattern, Scheme::GostB)
        .find(|l| !taken.contains(&l.as_str()))
        .expect("free login");
    assert_eq!(free.as_str(), "ivanov.ip3");

    // A one-letter login is too short; its numbered forms are not.
    let short = LoginPattern::parse("{last}").expect("pattern");
    let got: Vec<String> =
        login_candidates("И Ян", &short, Scheme::Icao).take(2).map(|l| l.as_str().to_owned()).collect();
    assert_eq!(got, ["i2", "i3"]);

    assert_eq!(login_candidates("Ъ", &pattern, Scheme::GostB).count(), 0);
}

#[test]
fn patterns_are_checked_when_loaded() {
    let bad: [(&str, PatternError); 6] = [
        ("{last}.{x}", PatternError::UnknownPlaceholder("x".into())),
        ("{last", PatternError::Unclosed),
        ("last}", PatternError::Unopened),
        ("{last} {f}", PatternError::Character(' ')),
        ("{f}{m}@college", PatternError::Character('@')),
        ("{f}{m}", PatternError::NoName),
    ];
    for (pattern, err) in bad {
        assert_eq!(LoginPattern::parse(pattern), Err(err), "{pattern}");
    }
    assert_eq!(LoginPattern::parse(LoginPattern::DEFAULT), Ok(LoginPattern::default()));
    assert_eq!(LoginPattern::parse("S.{Last}"), Err(PatternError::UnknownPlaceholder("Last".into())));
    assert!(LoginPattern::parse("S.{last}").is_ok(), "literal text is lower-cased");

    #[derive(serde::Deserialize, Debug)]
    struct Cfg {
        #[allow(dead_code)]
        pattern: LoginPattern,
        scheme: Scheme,
    }
    let cfg: Cfg = toml::from_str("pattern = \"{last}.{f}\"\nscheme = \"icao\"").expect("config");
    assert_eq!(cfg.scheme, Scheme::Icao);
    let err = toml::from_str::<Cfg>("pattern = \"{surname}\"\nscheme = \"icao\"").expect_err("bad pattern");
    assert!(err.to_string().contains("unknown placeholder {surname}"), "{err}");
    assert_eq!("gost_b".parse(), Ok(Scheme::GostB));
    assert!("gost".parse::<Scheme>().is_err());
}
