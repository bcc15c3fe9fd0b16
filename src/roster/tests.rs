//! Tests of the register reader: CSV, XLSX and JSON files with a 1C mapping.

use chrono::NaiveDate;

use super::*;
use crate::domain::account::Role;
use crate::domain::roster::{Order, RosterStatus};

mod files;
mod mappings;

const EXAMPLE: &str = include_str!("../../deploy/roster-mapping.example.toml");

fn example() -> Mapping {
    Mapping::from_toml(EXAMPLE).expect("the example mapping loads")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

const HEADER: &str = "Номер студенческого билета;ФИО;Группа;Email;Статус;Дата;Номер приказа;Дата приказа\n";

fn csv(body: &str) -> Vec<u8> {
    format!("{HEADER}{body}").into_bytes()
}

fn read_csv(body: &str) -> Vec<Result<RosterRow, RowError>> {
    read(&csv(body), Format::Csv, &example()).expect("file reads")
}

/// The one row error of a file whose other rows are good.
fn only_error(rows: &[Result<RosterRow, RowError>]) -> RowError {
    let errors: Vec<&RowError> = rows.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(errors.len(), 1, "{rows:#?}");
    errors[0].clone()
}

fn ivanov(line: usize) -> RosterRow {
    RosterRow {
        line,
        external_id: "С-1001".into(),
        full_name: "Иванов Иван Петрович".into(),
        role: Role::Student,
        unit: Some("ИС-21".into()),
        email: Some("ivanov@college.ru".into()),
        status: RosterStatus::Studying,
        effective: date(2024, 9, 1),
        order: Some(Order { number: "15-к".into(), date: date(2024, 8, 28) }),
    }
}

#[test]
fn format_from_the_file_name() {
    let cases = [
        ("kontingent.csv", Some(Format::Csv)),
        ("KONTINGENT.CSV", Some(Format::Csv)),
        ("export.txt", Some(Format::Csv)),
        ("/tmp/список.xlsx", Some(Format::Xlsx)),
        ("roster.json", Some(Format::Json)),
        ("roster.xls", None),
        ("roster", None),
    ];
    for (path, want) in cases {
        assert_eq!(Format::from_path(Path::new(path)), want, "{path}");
    }
    assert_eq!("XLSX".parse(), Ok(Format::Xlsx));
    assert!("ods".parse::<Format>().is_err());
}

#[test]
fn a_1c_row_read_whole() {
    let rows = read_csv("С-1001;Иванов Иван Петрович;ИС-21;ivanov@college.ru;обучается;01.09.2024;15-к;28.08.2024\n");
    assert_eq!(rows, vec![Ok(ivanov(2))]);
}

#[test]
fn values_trimmed_and_names_collapsed() {
    let rows = read_csv(
        "  С-1001 ;  Иванов   Иван\u{a0} Петрович ; ИС-21 ; ivanov@college.ru ;  Обучается ; 01.09.2024 0:00:00 ; 15-к ;2024-08-28\n",
    );
    assert_eq!(rows, vec![Ok(ivanov(2))]);
}

#[test]
fn statuses_through_the_mapping_and_by_their_own_names() {
    let cases = [
        ("обучается", RosterStatus::Studying),
        ("Академический  отпуск", RosterStatus::AcademicLeave),
        ("ВЫПУЩЕН", RosterStatus::Graduated),
        ("отчислен", RosterStatus::Expelled),
        ("переведён", RosterStatus::Transferred),
        ("переведен", RosterStatus::Transferred),
        ("работает", RosterStatus::Employed),
        ("уволен", RosterStatus::Dismissed),
        ("graduated", RosterStatus::Graduated),
        ("academic_leave", RosterStatus::AcademicLeave),
    ];
    for (value, status) in cases {
        let rows = read_csv(&format!("1;Иванов Иван;ИС-21;;{value};01.09.2024;;\n"));
        assert_eq!(rows[0].as_ref().map(|r| r.status), Ok(status), "{value}");
    }
}

#[test]
fn row_errors_name_the_line_and_the_field() {
    let first = "С-1;Петров Пётр;ИС-21;;обучается;01.09.2024;;\n";
    let last = "С-3;Сидоров Сидор;ИС-21;;обучается;01.09.2024;;\n";
    let long = "я".repeat(MAX_VALUE_CHARS + 1);
    let cases: Vec<(String, Option<&str>, &str)> = vec![
        (";Иванов Иван;ИС-21;;обучается;01.09.2024;;\n".into(), Some("external_id"), "missing"),
        ("С-2;  ;ИС-21;;обучается;01.09.2024;;\n".into(), Some("full_name"), "missing"),
        ("С-2;Иванов Иван;ИС-21;;;01.09.2024;;\n".into(), Some("status"), "missing"),
        ("С-2;Иванов Иван;ИС-21;;в розыске;01.09.2024;;\n".into(), Some("status"), "unknown status \"в розыске\""),
        ("С-2;Иванов Иван;ИС-21;;обучается;;;\n".into(), Some("effective"), "missing"),
        ("С-2;Иванов Иван;ИС-21;;обучается;31.02.2024;;\n".into(), Some("effective"), "\"31.02.2024\" is not a date"),
        ("С-2;Иванов Иван;ИС-21;;обучается;сентябрь;;\n".into(), Some("effective"), "is not a date"),
        ("С-2;Иванов Иван;ИС-21;ivanov@;обучается;01.09.2024;;\n".into(), Some("email"), "not an email address"),
        ("С-2;Иванов Иван;ИС-21;;обучается;01.09.2024;15-к;\n".into(), Some("order_date"), "needs its date"),
        ("С-2;Иванов Иван;ИС-21;;обучается;01.09.2024;;28.08.2024\n".into(), Some("order_number"), "needs its number"),
        ("С-2;Иванов Иван;ИС-21;;обучается;01.09.2024;15-к;28/08/2024\n".into(), Some("order_date"), "is not a date"),
        (format!("С-2;{long};ИС-21;;обучается;01.09.2024;;\n"), Some("full_name"), "longer than 256 characters"),
        (format!("С-2;Иванов Иван;{long};;обучается;01.09.2024;;\n"), Some("unit"), "longer than 256"),
        ("\"С-\n2\";Иванов Иван;ИС-21;;обучается;01.09.2024;;\n".into(), Some("external_id"), "line break"),
        (
            "С-2;Иванов Иван;ИС-21;;обучается;01.09.2024;\"15\tк\";28.08.2024\n".into(),
            Some("order_number"),
            "line break",
        ),
        ("С-2;Иванов Иван;ИС-21\n".into(), None, "3 fields where the header has 8"),
        (
            "С-1;Иванов Иван;ИС-21;;обучается;01.09.2024;;\n".into(),
            Some("external_id"),
            "\"С-1\" is repeated: first on line 2",
        ),
    ];
    for (bad, field, problem) in cases {
        let rows = read_csv(&format!("{first}{bad}{last}"));
        let err = only_error(&rows);
        assert_eq!(err.line, 3, "{bad:?}: {err}");
        assert_eq!(err.field, field, "{bad:?}: {err}");
        assert!(err.problem.contains(problem), "{bad:?}: {err}");
        assert_eq!(rows.len(), 3, "the rows around it are read: {bad:?}");
    }
}

#[test]
fn a_repeated_id_names_the_first_line_even_far_away() {
    let mut body = String::new();
    for i in 0..10 {
        body.push_str(&format!("С-{i};Иванов Иван;ИС-21;;обучается;01.09.2024;;\n"));
    }
    body.push_str("С-4;Сидоров Сидор;ИС-22;;обучается;01.09.2024;;\n");
    let err = only_error(&read_csv(&body));
    assert_eq!((err.line, err.field), (12, Some("external_id")));
    assert!(err.problem.contains("first on line 6"), "{err}");
}

#[test]
fn fifty_thousand_rows_with_two_hundred_bad_ones() {
    let mut body = String::with_capacity(50_000 * 80);
    for i in 0..50_000 {
        let status = if i % 250 == 7 { "неизвестно" } else { "обучается" };
        body.push_str(&format!(
            "{i:06};Иванов{i} Иван Петрович;ИС-{};s{i}@college.ru;{status};01.09.2024;15-к;28.08.2024\n",
            i % 40
        ));
    }
    let rows = read_csv(&body);
    assert_eq!(rows.len(), 50_000);
    let errors: Vec<&RowError> = rows.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(errors.len(), 200);
    assert!(errors.iter().all(|e| e.field == Some("status") && (e.line - 2) % 250 == 7));
    assert_eq!(rows[49_999].as_ref().map(|r| r.line), Ok(50_001));
}
