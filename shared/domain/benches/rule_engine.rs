//! The authorization rule engine: parsing a request and judging it against an account (every rule,
//! with and without overrides). Pure CPU: no store, no network.

// Bench code: a failed unwrap is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cofre_domain::authorizations::{
    Account, AccountFact, AccountId, AccountStatus, Card, CardFact, CardMode, CardStatus, Currency, Expiry, Facts,
    OriginalFact, Pan, evaluate, parse_authorization_request,
};
use cofre_domain::secret::SecretBytes;
use cofre_domain::tenant::TenantId;
use criterion::{Criterion, criterion_group, criterion_main};

const BY_CARD: &[u8] = br#"{"mti":"0100","amount":123.45,"currency":"BRL","network":"VISA","card":{"pan":"4111111111111111"},"mode":"CREDIT","entry_mode":"051","processing_code":"003000","number_of_installments":3,"tracking_id":"bench-1"}"#;
const FORCED: &[u8] = br#"{"mti":"0100","amount":123.45,"currency":"BRL","network":"VISA","account_id":1,"entry_mode":"051","processing_code":"003000","validation_rules":{"LEDGER":{"force":true},"ACCOUNT_STATUS":{"disable":true},"CARD_STATUS":{"denial_reasons":{"CARD_EXPIRED":{"response_code":"05","denial_code":"XYZ"}}}}}"#;

fn account() -> Account {
    let key = cofre_domain::crypto::HmacKeyring::legacy(SecretBytes::new(vec![7; 32])).unwrap();
    let pan = Pan::parse("4111111111111111").unwrap();
    Account {
        tenant: TenantId::parse("bench").unwrap(),
        id: AccountId::new(1).unwrap(),
        program_id: 1,
        document_number: "1".into(),
        status: AccountStatus::Normal,
        currency: Currency::parse("BRL").unwrap(),
        limit: 1_000_000,
        available: 50_000,
        held: 0,
        bank: None,
        cards: vec![Card {
            id: 1,
            stored_id: "tok".into(),
            status: CardStatus::Normal,
            expiry: Expiry::parse("2030-12").unwrap(),
            mode: CardMode::Combo,
            pan_hash: pan.hash(&key),
            masked_pan: pan.masked(),
        }],
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("rule_engine");
    group.bench_function("parse_card_authorization", |b| {
        b.iter(|| parse_authorization_request(std::hint::black_box(BY_CARD)).unwrap())
    });
    let now = time::OffsetDateTime::now_utc();
    for (name, body) in [("evaluate_all_rules", BY_CARD), ("evaluate_with_overrides", FORCED)] {
        let request = parse_authorization_request(body).unwrap();
        let account = account();
        let card = account.cards[0].clone();
        group.bench_function(name, |b| {
            b.iter(|| {
                let facts = Facts {
                    request: &request,
                    account: AccountFact::Found(account.clone()),
                    card: CardFact::Found(card.clone()),
                    original: OriginalFact::NotApplicable,
                    now,
                };
                evaluate(std::hint::black_box(&facts), &request.overrides)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
