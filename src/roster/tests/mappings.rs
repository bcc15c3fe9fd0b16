//! Mapping files: the shipped example, unknown keys, and every check that names a key.

use super::*;

#[test]
fn the_example_maps_a_1c_export() {
    let m = example();
    assert_eq!(m.column(Field::ExternalId), Some("Номер студенческого билета"));
    assert_eq!(m.column(Field::FullName), Some("ФИО"));
    assert_eq!(m.column(Field::Role), None);
    assert_eq!(m.default_role, Some(Role::Student));
    assert_eq!(m.delimiter, b';');
    assert_eq!(m.encoding, Encoding::Auto);
    assert_eq!(m.status("Переведён"), Some(RosterStatus::Transferred));
    assert_eq!(m.role("Преподаватель"), Some(Role::Teacher));
    assert_eq!(m.role("teacher"), Some(Role::Teacher));
    assert_eq!(m.role("декан"), None);
}

const MINIMAL: &str = r#"
default_role = "teacher"
[columns]
external_id = "Табельный номер"
full_name = "ФИО"
status = "Статус"
effective = "Дата"
"#;

#[test]
fn an_unknown_key_is_an_error_naming_it() {
    for (text, key) in [
        (format!("delimeter = \";\"\n{MINIMAL}"), "delimeter"),
        (MINIMAL.replace("full_name", "fio"), "fio"),
        (format!("{MINIMAL}group = \"Группа\"\n"), "group"),
    ] {
        let err = Mapping::from_toml(&text).expect_err("unknown key").to_string();
        assert!(err.contains(&format!("unknown field `{key}`")), "{err}");
    }
    assert!(Mapping::from_toml(MINIMAL).is_ok());
}

#[test]
fn every_check_names_the_key_that_fixes_it() {
    let cases: Vec<(String, &str)> = vec![
        (MINIMAL.replace("external_id = \"Табельный номер\"\n", ""), "columns.external_id"),
        (MINIMAL.replace("status = \"Статус\"\n", ""), "columns.status"),
        (MINIMAL.replace("effective = \"Дата\"\n", ""), "columns.effective"),
        (MINIMAL.replace("full_name = \"ФИО\"\n", ""), "columns.full_name"),
        (format!("{MINIMAL}last_name = \"Фамилия\"\nfirst_name = \"Имя\"\n"), "columns.full_name"),
        (MINIMAL.replace("full_name = \"ФИО\"", "last_name = \"Фамилия\""), "columns.last_name"),
        (format!("{MINIMAL}order_number = \"Номер приказа\"\n"), "columns.order_date"),
        (format!("{MINIMAL}unit = \"ФИО\"\n"), "columns.unit"),
        (format!("{MINIMAL}unit = \"  \"\n"), "columns.unit"),
        (MINIMAL.replace("default_role = \"teacher\"", "default_role = \"dean\""), "default_role"),
        (MINIMAL.replace("default_role = \"teacher\"\n", ""), "default_role"),
        (format!("delimiter = \";;\"\n{MINIMAL}"), "delimiter"),
        (format!("delimiter = \"\\\"\"\n{MINIMAL}"), "delimiter"),
        (format!("date_formats = []\n{MINIMAL}"), "date_formats"),
        (format!("date_formats = [\"%d.%m.%Q\"]\n{MINIMAL}"), "date_formats"),
        (format!("sheet = \" \"\n{MINIMAL}"), "sheet"),
        (format!("{MINIMAL}[statuses]\n\"обучается\" = \"learning\"\n"), "statuses.\"обучается\""),
        (format!("{MINIMAL}[roles]\n\"декан\" = \"dean\"\n"), "roles.\"декан\""),
    ];
    for (text, key) in cases {
        match Mapping::from_toml(&text) {
            Err(MappingError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
            other => panic!("{text}: expected an error at {key}, got {other:?}"),
        }
    }
    let err = Mapping::from_toml("encoding = \"koi8-r\"\n[columns]\n").expect_err("encoding").to_string();
    assert!(err.contains("koi8-r"), "{err}");
}

#[test]
fn a_mapped_column_missing_from_the_file_refuses_the_file() {
    let file = "Номер студенческого билета;ФИО;Статус;Дата;Номер приказа;Дата приказа;Email\n1;Иванов Иван;обучается;01.09.2024;;;\n";
    assert_eq!(
        read(file.as_bytes(), Format::Csv, &example()),
        Err(FileError::MissingColumn { column: "Группа".into(), field: "unit" })
    );
    let twice = format!("{}ФИО\n", HEADER.trim_end().to_owned() + ";");
    assert_eq!(
        read(twice.as_bytes(), Format::Csv, &example()),
        Err(FileError::DuplicateColumn { column: "ФИО".into() })
    );
    assert_eq!(read(b"", Format::Csv, &example()), Err(FileError::Empty));
    assert_eq!(read(b"\n;;\n", Format::Csv, &example()), Err(FileError::Empty));
}

#[test]
fn headers_match_loosely_and_extra_columns_are_ignored() {
    let file = "Лишнее; номер  студенческого БИЛЕТА ;фио;группа;EMAIL;статус;дата;номер приказа;дата приказа\n\
                x;С-1001;Иванов Иван Петрович;ИС-21;ivanov@college.ru;обучается;01.09.2024;15-к;28.08.2024\n";
    let rows = read(file.as_bytes(), Format::Csv, &example()).expect("reads");
    assert_eq!(rows, vec![Ok(ivanov(2))]);
}

#[test]
fn name_parts_roles_and_a_tab_delimiter() {
    let mapping = Mapping::from_toml(
        r#"
delimiter = "\t"
default_role = "staff"
[columns]
external_id = "Табельный номер"
last_name = "Фамилия"
first_name = "Имя"
middle_name = "Отчество"
role = "Должность"
unit = "Подразделение"
status = "Статус"
effective = "Дата"
[roles]
"преподаватель" = "teacher"
[statuses]
"работает" = "employed"
"уволен" = "dismissed"
"#,
    )
    .expect("mapping");
    let file = "Табельный номер\tФамилия\tИмя\tОтчество\tДолжность\tПодразделение\tСтатус\tДата\n\
                00042\tПетрова\t Анна \t\tпреподаватель\tЦикловая  комиссия ИТ\tработает\t2023-09-01\n\
                00043\tСидоров\tСидор\tСидорович\t\tБухгалтерия\tуволен\t31.08.2024\n\
                00044\tКузнецов\t\t\t\tБухгалтерия\tуволен\t31.08.2024\n\
                00045\tОрлов\tОлег\t\tдекан\t\tработает\t31.08.2024\n";
    let rows = read(file.as_bytes(), Format::Csv, &mapping).expect("reads");
    let ok: Vec<(String, Role, Option<String>)> =
        rows.iter().flatten().map(|r| (r.full_name.clone(), r.role, r.unit.clone())).collect();
    assert_eq!(
        ok,
        [
            ("Петрова Анна".to_owned(), Role::Teacher, Some("Цикловая комиссия ИТ".to_owned())),
            ("Сидоров Сидор Сидорович".to_owned(), Role::Staff, Some("Бухгалтерия".to_owned())),
        ]
    );
    let errors: Vec<(usize, Option<&str>)> =
        rows.iter().filter_map(|r| r.as_ref().err()).map(|e| (e.line, e.field)).collect();
    assert_eq!(errors, [(4, Some("first_name")), (5, Some("role"))]);
    assert_eq!(rows[0].as_ref().map(|r| r.external_id.as_str()), Ok("00042"), "ids keep their zeros");
}
