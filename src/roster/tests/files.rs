//! The three file formats: CSV encodings, physical line numbers and truncation; XLSX
//! date cells and sheets; JSON with and without a mapping.

use rust_xlsxwriter::{ExcelDateTime, Workbook};

use super::*;

const ROW: &str = "С-1001;Иванов Иван Петрович;ИС-21;ivanov@college.ru;обучается;01.09.2024;15-к;28.08.2024";

#[test]
fn utf8_with_a_bom_and_windows_1251_read_alike() {
    let text = format!("{HEADER}{ROW}\n");
    let bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
    let cp1251 = encoding_rs::WINDOWS_1251.encode(&text).0.into_owned();
    assert!(std::str::from_utf8(&cp1251).is_err());
    for bytes in [text.as_bytes(), &bom, &cp1251] {
        assert_eq!(read(bytes, Format::Csv, &example()), Ok(vec![Ok(ivanov(2))]));
    }
    let forced =
        Mapping::from_toml(&EXAMPLE.replace("encoding = \"auto\"", "encoding = \"windows-1251\"")).expect("mapping");
    assert_eq!(read(&cp1251, Format::Csv, &forced), Ok(vec![Ok(ivanov(2))]));
    let strict = Mapping::from_toml(&EXAMPLE.replace("encoding = \"auto\"", "encoding = \"utf-8\"")).expect("mapping");
    assert!(matches!(read(&cp1251, Format::Csv, &strict), Err(FileError::Encoding { line: 1, .. })));
}

#[test]
fn lines_are_the_files_physical_lines() {
    let body = "\
С-1;\"Иванов Иван\";ИС-21;;обучается;01.09.2024;\"№ 15-к; \"\"о выпуске\"\"\";28.08.2024\r
\r
С-2;Петров Пётр;\"ИС-21\r
(вечерняя)\";;обучается;01.09.2024;;\r
;;;;;;;\r
С-3;Сидоров Сидор;ИС-21;;ушёл;01.09.2024;;\r
";
    let rows = read_csv(body);
    let lines: Vec<usize> = rows.iter().map(|r| r.as_ref().map_or_else(|e| e.line, |r| r.line)).collect();
    assert_eq!(lines, [2, 4, 7]);
    assert_eq!(
        rows[0].as_ref().map(|r| r.order.clone()),
        Ok(Some(Order { number: "№ 15-к; \"о выпуске\"".into(), date: date(2024, 8, 28) }))
    );
    assert_eq!(rows[1].as_ref().map(|r| r.unit.clone()), Ok(Some("ИС-21 (вечерняя)".into())));
    assert_eq!(rows[2].as_ref().map_err(|e| e.field), Err(Some("status")));
}

#[test]
fn a_truncated_csv_is_refused() {
    let cases = [
        (format!("{HEADER}{ROW}\nС-2;\"Петров"), 3),
        (format!("{HEADER}{ROW}\nС-2;Петров Пётр;\"ИС-21\n(веч"), 3),
        (format!("{HEADER}{ROW}\nС-2;Петров Пётр;ИС-21;;обуч"), 3),
        (format!("{HEADER}{ROW}\nС-2;Петров Пётр;ИС-21;;обучается;01.09.2024;"), 3),
    ];
    for (file, line) in cases {
        match read(file.as_bytes(), Format::Csv, &example()) {
            Err(FileError::Truncated { line: l, .. }) => assert_eq!(l, line, "{file:?}"),
            other => panic!("{file:?}: {other:?}"),
        }
    }
    // A whole last record without a final line break is fine; a short record followed
    // by a line break is a row error, not a truncation.
    assert_eq!(read(format!("{HEADER}{ROW}").as_bytes(), Format::Csv, &example()), Ok(vec![Ok(ivanov(2))]));
    let short = read(format!("{HEADER}{ROW}\nС-2;Петров\n").as_bytes(), Format::Csv, &example()).expect("reads");
    assert_eq!(only_error(&short).line, 3);
    let msg = read(format!("{HEADER}С-2;\"Петров").as_bytes(), Format::Csv, &example()).expect_err("cut").to_string();
    assert!(msg.contains("truncated at line 2"), "{msg}");
}

#[test]
fn xlsx_with_date_cells_text_dates_and_numeric_ids() {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Контингент").expect("name");
    let headers =
        ["Номер студенческого билета", "ФИО", "Группа", "Email", "Статус", "Дата", "Номер приказа", "Дата приказа"];
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).expect("header");
    }
    let date_format = rust_xlsxwriter::Format::new().set_num_format("dd.mm.yyyy");
    let day = |y, m, d| ExcelDateTime::from_ymd(y, m, d).expect("date");
    // Row 2: an id typed as a number, date cells.
    sheet.write_number(1, 0, 1001.0).expect("id");
    sheet.write_string(1, 1, "Иванов  Иван Петрович").expect("name");
    sheet.write_string(1, 2, "ИС-21").expect("group");
    sheet.write_string(1, 3, "ivanov@college.ru").expect("email");
    sheet.write_string(1, 4, "Выпущен").expect("status");
    sheet.write_datetime_with_format(1, 5, day(2025, 6, 30), &date_format).expect("date");
    sheet.write_string(1, 6, "77-в").expect("order");
    sheet.write_datetime_with_format(1, 7, day(2025, 6, 25), &date_format).expect("date");
    // Row 3 is blank; row 4: text dates as 1C writes them; row 5: a bad date.
    sheet.write_string(3, 0, "С-1002").expect("id");
    sheet.write_string(3, 1, "Петров Пётр").expect("name");
    sheet.write_string(3, 4, "отчислен").expect("status");
    sheet.write_string(3, 5, "15.01.2025 0:00:00").expect("date");
    sheet.write_string(4, 0, "С-1003").expect("id");
    sheet.write_string(4, 1, "Сидоров Сидор").expect("name");
    sheet.write_string(4, 4, "обучается").expect("status");
    sheet.write_number(4, 5, 20250115.0).expect("date");
    let bytes = book.save_to_buffer().expect("xlsx");

    let mapping =
        Mapping::from_toml(&EXAMPLE.replace("# sheet = \"Контингент\"", "sheet = \"Контингент\"")).expect("m");
    let rows = read(&bytes, Format::Xlsx, &mapping).expect("reads");
    assert_eq!(rows.len(), 3);
    let first = rows[0].as_ref().expect("row 2");
    assert_eq!(
        (first.line, first.external_id.as_str(), first.full_name.as_str(), first.status, first.effective),
        (2, "1001", "Иванов Иван Петрович", RosterStatus::Graduated, date(2025, 6, 30))
    );
    assert_eq!(first.order, Some(Order { number: "77-в".into(), date: date(2025, 6, 25) }));
    let second = rows[1].as_ref().expect("row 4");
    assert_eq!((second.line, second.effective, second.unit.clone()), (4, date(2025, 1, 15), None));
    assert_eq!(rows[2].as_ref().map_err(|e| (e.line, e.field)), Err((5, Some("effective"))));

    // The first sheet when none is named; a named sheet that is not there.
    assert_eq!(read(&bytes, Format::Xlsx, &example()).map(|r| r.len()), Ok(3));
    let other = Mapping::from_toml(&EXAMPLE.replace("# sheet = \"Контингент\"", "sheet = \"Лист1\"")).expect("m");
    assert_eq!(
        read(&bytes, Format::Xlsx, &other),
        Err(FileError::NoSheet { name: "Лист1".into(), found: "Контингент".into() })
    );
    assert!(matches!(read(b"PK\x03\x04 not a zip", Format::Xlsx, &example()), Err(FileError::Xlsx(_))));
    assert!(matches!(read(ROW.as_bytes(), Format::Xlsx, &example()), Err(FileError::Xlsx(_))));
}

#[test]
fn xlsx_missing_column() {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["Номер студенческого билета", "ФИО", "Статус"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).expect("header");
    }
    let bytes = book.save_to_buffer().expect("xlsx");
    assert_eq!(
        read(&bytes, Format::Xlsx, &example()),
        Err(FileError::MissingColumn { column: "Группа".into(), field: "unit" })
    );
}

#[test]
fn json_with_the_files_column_names() {
    let file = r#"[
        {"Номер студенческого билета": "С-1001", "ФИО": "Иванов Иван Петрович", "Группа": "ИС-21",
         "Email": "ivanov@college.ru", "Статус": "обучается", "Дата": "01.09.2024",
         "Номер приказа": "15-к", "Дата приказа": "2024-08-28"},
        {"Номер студенческого билета": 1002, "ФИО": "Петров Пётр", "Статус": "отчислен", "Дата": "01.02.2025",
         "Группа": null},
        "not an object",
        {"Номер студенческого билета": "С-1003", "ФИО": ["Сидоров"], "Статус": "обучается", "Дата": "01.09.2024"}
    ]"#;
    let rows = read(file.as_bytes(), Format::Json, &example()).expect("reads");
    let mut want = ivanov(1);
    want.line = 1;
    assert_eq!(rows[0], Ok(want));
    assert_eq!(rows[1].as_ref().map(|r| (r.line, r.external_id.as_str(), r.unit.clone())), Ok((2, "1002", None)));
    assert_eq!(rows[2].as_ref().map_err(|e| (e.line, e.field)), Err((3, None)));
    assert_eq!(rows[3].as_ref().map_err(|e| (e.line, e.field)), Err((4, Some("full_name"))));
}

#[test]
fn json_with_propusks_own_names() {
    let file = r#"[
        {"external_id": "T-7", "full_name": "Орлова Ольга", "role": "teacher", "unit": "Кафедра ИТ",
         "status": "employed", "effective": "2024-09-01", "order_number": "3-л", "order_date": "2024-08-30"},
        {"external_id": "T-8", "full_name": "Орлов Олег", "role": "dean", "status": "employed", "effective": "2024-09-01"}
    ]"#;
    let rows = read(file.as_bytes(), Format::Json, &Mapping::default()).expect("reads");
    let first = rows[0].as_ref().expect("row 1");
    assert_eq!(
        (first.role, first.status, first.unit.as_deref()),
        (Role::Teacher, RosterStatus::Employed, Some("Кафедра ИТ"))
    );
    assert_eq!(rows[1].as_ref().map_err(|e| (e.line, e.field)), Err((2, Some("role"))));

    let no_role =
        r#"[{"external_id": "T-7", "full_name": "Орлова Ольга", "status": "employed", "effective": "2024-09-01"}]"#;
    assert_eq!(
        read(no_role.as_bytes(), Format::Json, &Mapping::default()),
        Err(FileError::MissingColumn { column: "role".into(), field: "role" })
    );
    assert_eq!(read(b"[]", Format::Json, &Mapping::default()), Ok(vec![]));
    assert!(matches!(read(b"{\"a\": 1}", Format::Json, &Mapping::default()), Err(FileError::Json(_))));
    let cut = read(b"[{\"external_id\": \"T-7\", \"full_na", Format::Json, &Mapping::default()).expect_err("cut");
    assert!(cut.to_string().contains("line 1"), "{cut}");
}
