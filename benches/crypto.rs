//! What the envelope costs over bare AES-256-GCM: one group per plaintext size, each comparing
//! `Keyring::encrypt` / `decrypt` with `Aes256Gcm::encrypt` / `decrypt` under the same key, a fresh
//! random nonce from the same OS RNG, and no associated data.
//!
//! Run: `cargo bench --bench crypto -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use aes_gcm::aead::{Aead, Nonce};
use aes_gcm::{Aes256Gcm, KeyInit};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mixerai_data::crypto::{Binding, Key, KeyId, KeyState, Keyring};
use secrecy::ExposeSecret;
use uuid::Uuid;

const KEY: [u8; 32] = [0x42; 32];

fn fresh_nonce() -> Nonce<Aes256Gcm> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).expect("OS RNG");
    nonce.into()
}

fn bench_size(c: &mut Criterion, label: &str, len: usize) {
    let mut ring = Keyring::new();
    ring.add(KeyId(1), Key::from_bytes(KEY), KeyState::Primary)
        .expect("fresh keyring");
    let binding = Binding::new("user_mfa", "totp_secret", Uuid::from_u128(0x1234));
    let bare = Aes256Gcm::new((&KEY).into());
    let plaintext = vec![0x5a_u8; len];

    let envelope = ring.encrypt(&binding, &plaintext).expect("encrypt");
    let bare_nonce = fresh_nonce();
    let bare_ciphertext = bare
        .encrypt(&bare_nonce, plaintext.as_slice())
        .expect("encrypt");

    let mut group = c.benchmark_group(label);
    group.throughput(Throughput::Bytes(len as u64));
    group.bench_function("envelope_encrypt", |b| {
        b.iter(|| {
            ring.encrypt(black_box(&binding), black_box(&plaintext))
                .expect("encrypt")
        })
    });
    group.bench_function("bare_aes_gcm_encrypt", |b| {
        b.iter(|| {
            bare.encrypt(&fresh_nonce(), black_box(plaintext.as_slice()))
                .expect("encrypt")
        })
    });
    group.bench_function("envelope_decrypt", |b| {
        b.iter(|| {
            let plaintext = ring
                .decrypt(black_box(&binding), black_box(&envelope))
                .expect("decrypt");
            black_box(plaintext.expose_secret().len())
        })
    });
    group.bench_function("bare_aes_gcm_decrypt", |b| {
        b.iter(|| {
            bare.decrypt(
                black_box(&bare_nonce),
                black_box(bare_ciphertext.as_slice()),
            )
            .expect("decrypt")
        })
    });
    group.finish();
}

fn envelope_vs_bare(c: &mut Criterion) {
    bench_size(c, "32B", 32);
    bench_size(c, "4KiB", 4096);
}

criterion_group!(benches, envelope_vs_bare);
criterion_main!(benches);
