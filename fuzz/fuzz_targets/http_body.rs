//! A `POST /graphql` body (`<selector><body>`) through the engine, as the servers call it, over
//! an in-memory database: any bytes must give a JSON answer with a status, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let engines = exo_fuzz::engines();
    let engine = &engines[selector as usize % engines.len()];
    let headers = &exo_fuzz::header_sets()
        [(selector as usize / engines.len()) % exo_fuzz::header_sets().len()];
    // What the database answers: JSON null, a number (slots, counts), or nothing.
    let value = match selector % 3 {
        0 => Some("null".to_string()),
        1 => Some("1".to_string()),
        _ => None,
    };
    let mut db = exo_fuzz::MemDb {
        value,
        statements: 0,
    };
    let response =
        futures::executor::block_on(engine.handle(body, &exo_fuzz::head(headers), &mut db));
    assert!(
        (200..600).contains(&response.status),
        "status {}",
        response.status
    );
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&response.body) {
        panic!("the answer is not JSON ({e}): {}", response.body);
    }
});
