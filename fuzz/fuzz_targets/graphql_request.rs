//! A GraphQL document and its variables (`<selector><document>\0<variables JSON>`) against one
//! of the example models: parse, validate, plan; every planned statement must parse as
//! PostgreSQL and bind exactly the parameters it uses.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((selector, document, variables)) = exo_fuzz::split(data) else {
        return;
    };
    let engines = exo_fuzz::engines();
    let engine = &engines[selector as usize % engines.len()];
    let headers = &exo_fuzz::header_sets()
        [(selector as usize / engines.len()) % exo_fuzz::header_sets().len()];
    let variables = match serde_json::from_str::<serde_json::Value>(variables) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    if let Ok(plan) = engine.plan_for(document, None, &variables, &exo_fuzz::head(headers)) {
        exo_fuzz::check_plan(&plan);
    }
});
