//! `ListRuleFunctions`: the rule language's built-ins as the language itself knows them,
//! read from its one function table (`domain::rule::types::FUNCTIONS`), so the listing
//! cannot drift from what the parser and checker accept.

use maitre_kit::auth::Caller;
use maitre_proto::tagging::v1::{
    ListRuleFunctionsRequest, ListRuleFunctionsResponse, RuleFunction,
};
use tonic::{Request, Response};

use crate::{
    domain::rule::types::{FUNCTIONS, FunctionSig, Param},
    error::Result,
};

pub fn list_rule_functions(
    request: Request<ListRuleFunctionsRequest>,
) -> Result<Response<ListRuleFunctionsResponse>> {
    // Any verified caller of a chain may read the language; nothing of the chain is in it.
    Caller::from_request(&request)?.chain()?;
    let functions = FUNCTIONS.iter().map(rule_function).collect();
    Ok(Response::new(ListRuleFunctionsResponse { functions }))
}

fn rule_function(sig: &FunctionSig) -> RuleFunction {
    RuleFunction {
        name: sig.name.to_owned(),
        signature: signature(sig),
        description: sig.summary.to_owned(),
        time_dependent: sig.time_dependent,
    }
}

/// `visits(Duration) -> Number`; nullary built-ins are written bare (`p_alive -> Number`).
fn signature(sig: &FunctionSig) -> String {
    let params: Vec<&str> = sig
        .params
        .iter()
        .map(|p| match p {
            Param::NameLiteral => "Text",
            Param::Window => "Duration",
        })
        .collect();
    if sig.is_nullary() {
        format!("{} -> {}", sig.name, sig.result)
    } else {
        format!("{}({}) -> {}", sig.name, params.join(", "), sig.result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_is_listed_with_its_signature() {
        let listed: Vec<RuleFunction> = FUNCTIONS.iter().map(rule_function).collect();
        assert_eq!(listed.len(), FUNCTIONS.len());
        let visits = listed.iter().find(|f| f.name == "visits").unwrap();
        assert_eq!(visits.signature, "visits(Duration) -> Number");
        assert!(visits.time_dependent);
        let share = listed.iter().find(|f| f.name == "dish_share").unwrap();
        assert_eq!(share.signature, "dish_share(Text, Duration) -> Number");
        let class = listed.iter().find(|f| f.name == "class").unwrap();
        assert_eq!(class.signature, "class -> Text");
        assert!(listed.iter().all(|f| !f.description.is_empty()));
    }
}
