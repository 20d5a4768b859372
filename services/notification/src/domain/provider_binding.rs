//! A template's binding to a provider's approved template (issue 24): the provider's template
//! id/code, the sign name, and which of our variables fills each of its parameters. Providers
//! that send approved templates only (Tencent and Alibaba SMS) cannot send a template without
//! one: [`sendable`] refuses it when it is saved or an automation using it is enabled, naming
//! the field, instead of when the first guest is due.

use serde::{Deserialize, Serialize};

use super::provider_account::ProviderKind;
use super::template_vars::{TemplateValues, TemplateVariable};

/// Longest provider template id or sign name accepted.
const MAX_CHARS: usize = 64;
/// Most parameters a provider template takes here (Tencent and Alibaba allow well under this).
const MAX_PARAMETERS: usize = 16;

/// One provider parameter and the variable that fills it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderParameter {
    /// The provider's name (Alibaba's key; Tencent's parameters are positional).
    pub name: String,
    /// Our variable's path, e.g. `customer.salutation`.
    pub variable: String,
}

/// How a template is sent through a template-based provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderBinding {
    pub provider_template_id: String,
    pub sign_name: String,
    pub parameters: Vec<ProviderParameter>,
}

/// Why a binding is refused: the field (under `template.provider`) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BindingError {
    pub field: String,
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> BindingError {
    BindingError {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks the binding's own shape: bounded texts, known variables, named parameters.
pub fn validate(binding: &ProviderBinding) -> Result<(), BindingError> {
    for (field, value) in [
        ("provider_template_id", &binding.provider_template_id),
        ("sign_name", &binding.sign_name),
    ] {
        if value.chars().count() > MAX_CHARS {
            return Err(refuse(
                format!("template.provider.{field}"),
                format!("more than {MAX_CHARS} characters"),
            ));
        }
    }
    if binding.parameters.len() > MAX_PARAMETERS {
        return Err(refuse(
            "template.provider.parameters",
            format!("more than {MAX_PARAMETERS} parameters"),
        ));
    }
    for (index, parameter) in binding.parameters.iter().enumerate() {
        if parameter.name.trim().is_empty() {
            return Err(refuse(
                format!("template.provider.parameters[{index}].name"),
                "must not be empty",
            ));
        }
        if TemplateVariable::from_path(&parameter.variable).is_none() {
            return Err(refuse(
                format!("template.provider.parameters[{index}].variable"),
                format!("unknown variable `{}`", parameter.variable),
            ));
        }
    }
    Ok(())
}

/// Whether a template with `binding` can be sent through a `kind` account whose default sign
/// name is `account_sign_name`: a template-based provider needs the provider's template id, SMS
/// a sign name (the template's or the account's), and a provider that bounds its templates'
/// parameters (WeChat: 5 keywords, each a data key such as `thing1`) no more than that.
pub fn sendable(
    binding: Option<&ProviderBinding>,
    kind: ProviderKind,
    account_sign_name: &str,
) -> Result<(), BindingError> {
    if !kind.needs_template_binding() {
        return Ok(());
    }
    let why = format!(
        "required: the chain's `{}` provider sends approved templates only",
        kind.as_str()
    );
    let Some(binding) = binding.filter(|b| !b.provider_template_id.trim().is_empty()) else {
        return Err(refuse("template.provider.provider_template_id", why));
    };
    if kind.needs_sign_name()
        && binding.sign_name.trim().is_empty()
        && account_sign_name.trim().is_empty()
    {
        return Err(refuse("template.provider.sign_name", why));
    }
    if let Some(max) = kind.max_template_parameters()
        && binding.parameters.len() > max
    {
        return Err(refuse(
            "template.provider.parameters",
            format!(
                "{} parameters; a `{}` template takes at most {max}",
                binding.parameters.len(),
                kind.as_str()
            ),
        ));
    }
    if matches!(
        kind,
        ProviderKind::WechatOfficialAccount | ProviderKind::WechatMiniProgram
    ) {
        for (index, parameter) in binding.parameters.iter().enumerate() {
            // A data key of the template (`thing1`, `time2`, `keyword1`, `first`).
            if !parameter
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(refuse(
                    format!("template.provider.parameters[{index}].name"),
                    format!(
                        "`{}` is not a WeChat template data key (letters, digits, `_`: thing1)",
                        parameter.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The provider parameters of a message: each parameter's name with its variable's value (empty
/// when the message has none).
pub fn parameters(binding: &ProviderBinding, values: &TemplateValues) -> Vec<(String, String)> {
    binding
        .parameters
        .iter()
        .map(|p| {
            let value = TemplateVariable::from_path(&p.variable)
                .and_then(|v| values.get(v))
                .unwrap_or_default();
            (p.name.clone(), value.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greeting() -> ProviderBinding {
        ProviderBinding {
            provider_template_id: "1110".into(),
            sign_name: "海港酒家".into(),
            parameters: vec![
                ProviderParameter {
                    name: "1".into(),
                    variable: "customer.salutation".into(),
                },
                ProviderParameter {
                    name: "2".into(),
                    variable: "coupon.code".into(),
                },
            ],
        }
    }

    #[test]
    fn parameters_take_their_variables_values_in_order() {
        let values = TemplateValues::new()
            .with(TemplateVariable::CustomerSalutation, "李女士")
            .with(TemplateVariable::CouponCode, "DESSERT-1");
        assert_eq!(
            parameters(&greeting(), &values),
            vec![
                ("1".to_owned(), "李女士".to_owned()),
                ("2".to_owned(), "DESSERT-1".to_owned())
            ]
        );
    }

    #[test]
    fn an_unknown_variable_is_named() {
        let mut binding = greeting();
        binding.parameters[1].variable = "coupon.secret".into();
        assert_eq!(
            validate(&binding).expect_err("refused").field,
            "template.provider.parameters[1].variable"
        );
        assert_eq!(validate(&greeting()), Ok(()));
    }

    #[test]
    fn template_providers_need_the_template_id_and_a_sign_name() {
        let sms = ProviderKind::TencentSms;
        assert_eq!(
            sendable(None, sms, "").expect_err("refused").field,
            "template.provider.provider_template_id"
        );
        let mut unsigned = greeting();
        unsigned.sign_name.clear();
        assert_eq!(
            sendable(Some(&unsigned), sms, "")
                .expect_err("refused")
                .field,
            "template.provider.sign_name"
        );
        assert_eq!(sendable(Some(&unsigned), sms, "海港酒家"), Ok(()));
        assert_eq!(sendable(None, ProviderKind::Webhook, ""), Ok(()));
    }

    #[test]
    fn wechat_needs_the_template_id_no_sign_and_at_most_five_data_keys() {
        let oa = ProviderKind::WechatOfficialAccount;
        let mut binding = greeting();
        binding.sign_name.clear();
        for p in &mut binding.parameters {
            p.name = format!("thing{}", p.name);
        }
        assert_eq!(sendable(Some(&binding), oa, ""), Ok(()));
        assert_eq!(
            sendable(None, ProviderKind::WechatMiniProgram, "")
                .expect_err("refused")
                .field,
            "template.provider.provider_template_id"
        );
        let mut many = binding.clone();
        many.parameters = (1..=6)
            .map(|i| ProviderParameter {
                name: format!("thing{i}"),
                variable: "customer.salutation".into(),
            })
            .collect();
        assert_eq!(
            sendable(Some(&many), oa, "").expect_err("refused").field,
            "template.provider.parameters"
        );
        binding.parameters[1].name = "券码".into();
        assert_eq!(
            sendable(Some(&binding), oa, "").expect_err("refused").field,
            "template.provider.parameters[1].name"
        );
    }
}
