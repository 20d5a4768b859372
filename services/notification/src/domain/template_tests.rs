use proptest::prelude::*;

use super::*;

fn parse(source: &str) -> Result<ParsedText, TemplateError> {
    ParsedText::parse("body", source, MAX_BODY_SOURCE_CHARS)
}

fn pos(offset_chars: usize, line: u32, column: u32) -> SourcePosition {
    SourcePosition {
        offset_chars,
        line,
        column,
    }
}

#[test]
fn parses_text_and_placeholders_with_defaults() {
    let parsed = parse(r#"{{customer.salutation}}您好，券码{{ coupon.code | "无" }}。"#)
        .expect("valid template");
    assert_eq!(
        parsed.parts(),
        &[
            TemplatePart::Placeholder {
                variable: TemplateVariable::CustomerSalutation,
                default: None
            },
            TemplatePart::Text("您好，券码".into()),
            TemplatePart::Placeholder {
                variable: TemplateVariable::CouponCode,
                default: Some("无".into())
            },
            TemplatePart::Text("。".into()),
        ]
    );
    assert_eq!(
        parsed.required_variables().into_iter().collect::<Vec<_>>(),
        vec![TemplateVariable::CustomerSalutation]
    );
    assert_eq!(parsed.variables().len(), 2);
}

#[test]
fn unknown_variable_is_named_with_its_position() {
    let error = parse("亲爱的\n会员 {{customer.salary}}").expect_err("unknown variable");
    assert_eq!(
        error,
        TemplateError::UnknownVariable {
            field: "body",
            name: "customer.salary".into(),
            at: pos(9, 2, 6)
        }
    );
    assert_eq!(
        error.to_string(),
        "body: unknown variable `customer.salary` at line 2, column 6"
    );
}

#[test]
fn syntax_errors_carry_positions() {
    assert_eq!(
        parse("hi {{customer.name"),
        Err(TemplateError::UnclosedPlaceholder {
            field: "body",
            at: pos(3, 1, 4)
        })
    );
    assert_eq!(
        parse("hi {{ }}"),
        Err(TemplateError::EmptyPlaceholder {
            field: "body",
            at: pos(3, 1, 4)
        })
    );
    assert_eq!(
        parse("{customer.name}}"),
        Err(TemplateError::UnmatchedClosingBraces {
            field: "body",
            at: pos(14, 1, 15)
        })
    );
    assert_eq!(
        parse("{{Customer.Name}}"),
        Err(TemplateError::InvalidVariableName {
            field: "body",
            found: "Customer.Name".into(),
            at: pos(2, 1, 3)
        })
    );
    assert_eq!(
        parse("{{customer.name | 无}}"),
        Err(TemplateError::ExpectedDefaultString {
            field: "body",
            at: pos(18, 1, 19)
        })
    );
    assert_eq!(
        parse(r#"{{customer.name | "无}}"#),
        Err(TemplateError::UnterminatedDefault {
            field: "body",
            at: pos(18, 1, 19)
        })
    );
    assert_eq!(
        parse("{{customer.name, 欢迎"),
        Err(TemplateError::UnexpectedCharacter {
            field: "body",
            found: ',',
            at: pos(15, 1, 16)
        })
    );
    assert_eq!(
        parse("{{customer..name}}").map(|_| ()),
        Err(TemplateError::InvalidVariableName {
            field: "body",
            found: "customer..name".into(),
            at: pos(2, 1, 3),
        })
    );
}

#[test]
fn default_string_escapes() {
    let parsed = parse(r#"{{coupon.name | "say \"hi\" \\ \n"}}"#).expect("valid");
    assert_eq!(
        parsed.parts(),
        &[TemplatePart::Placeholder {
            variable: TemplateVariable::CouponName,
            default: Some(r#"say "hi" \ \n"#.into())
        }]
    );
}

#[test]
fn source_length_is_limited() {
    let error = ParsedText::parse("subject", &"x".repeat(11), 10).expect_err("too long");
    assert_eq!(
        error,
        TemplateError::SourceTooLong {
            field: "subject",
            chars: 11,
            max_chars: 10
        }
    );
}

#[test]
fn render_uses_values_then_defaults_then_fails() {
    let parsed = parse(r#"{{customer.salutation}}，券码：{{coupon.code | "无"}}"#).expect("valid");
    let values = TemplateValues::new().with(TemplateVariable::CustomerSalutation, "李女士");
    assert_eq!(
        parsed.render("body", &values),
        Ok("李女士，券码：无".to_string())
    );
    let with_coupon = values.clone().with(TemplateVariable::CouponCode, "BD2025");
    assert_eq!(
        parsed.render("body", &with_coupon),
        Ok("李女士，券码：BD2025".to_string())
    );
    assert_eq!(
        parsed.render("body", &TemplateValues::new()),
        Err(TemplateError::MissingValue {
            field: "body",
            variable: "customer.salutation"
        })
    );
}

#[test]
fn compile_checks_subject_per_channel() {
    let draft = |channel, subject: Option<&str>| TemplateDraft {
        channel,
        locale: Locale::ZhCn,
        subject: subject.map(str::to_string),
        body: "{{customer.name}}".into(),
    };
    assert_eq!(
        Template::compile(&draft(Channel::Email, None)),
        Err(TemplateError::SubjectRequired {
            channel: Channel::Email
        })
    );
    assert_eq!(
        Template::compile(&draft(Channel::Sms, Some("hi"))),
        Err(TemplateError::SubjectNotSupported {
            channel: Channel::Sms
        })
    );
    let email = Template::compile(&draft(Channel::Email, Some("{{store.name}}欢迎您")))
        .expect("valid email");
    assert_eq!(email.variables().len(), 2);
    let subject_error =
        Template::compile(&draft(Channel::AppPush, Some("{{store.nam}}"))).expect_err("unknown");
    assert!(matches!(
        subject_error,
        TemplateError::UnknownVariable {
            field: "subject",
            ..
        }
    ));
}

#[test]
fn render_counts_sms_segments() {
    let template = Template::compile(&TemplateDraft {
        channel: Channel::Sms,
        locale: Locale::ZhCn,
        subject: None,
        body: "{{customer.salutation}}".to_string() + &"好".repeat(68),
    })
    .expect("valid");
    let values = TemplateValues::new().with(TemplateVariable::CustomerSalutation, "李女士");
    let rendered = template
        .render(&values, &ChannelLimits::default())
        .expect("renders");
    assert_eq!(rendered.size.sms_segments, Some(2));
    assert_eq!(rendered.size.body_chars, 71);
}

proptest! {
    #[test]
    fn parser_never_panics(source in "\\PC{0,200}") {
        let _ = parse(&source);
    }

    #[test]
    fn parser_never_panics_on_brace_soup(source in "[{}|\" \\\\a-z._\n好]{0,80}") {
        let _ = parse(&source);
    }

    #[test]
    fn plain_text_round_trips(text in "[^{}]{0,100}") {
        let parsed = parse(&text).expect("text without braces always parses");
        prop_assert_eq!(parsed.render("body", &TemplateValues::new()), Ok(text));
    }

    #[test]
    fn error_positions_are_inside_the_source(source in "[{}|\"a-z.\n]{0,60}") {
        if let Err(error) = parse(&source) {
            let len = source.chars().count();
            let at = match error {
                TemplateError::UnclosedPlaceholder { at, .. }
                | TemplateError::UnmatchedClosingBraces { at, .. }
                | TemplateError::EmptyPlaceholder { at, .. }
                | TemplateError::InvalidVariableName { at, .. }
                | TemplateError::UnknownVariable { at, .. }
                | TemplateError::ExpectedDefaultString { at, .. }
                | TemplateError::UnterminatedDefault { at, .. }
                | TemplateError::UnexpectedCharacter { at, .. } => at,
                other => return Err(TestCaseError::fail(format!("unexpected error {other}"))),
            };
            prop_assert!(at.offset_chars < len);
        }
    }
}
