//! `Accepted::parse` and `choose` on any Accept-Encoding value, with the
//! available codings taken from the input. It never panics, and:
//!
//! - the choice is one of the available codings or identity;
//! - it does not depend on the order of `available`, and a coding that was not
//!   chosen never matters: with fewer codings on offer the choice stays, so long
//!   as it is still on offer (the handler skips its sidecar probes on this);
//! - an absent field always gives identity;
//! - on a value a header can carry (visible ASCII, spaces, tabs) with at most
//!   one `*`, the choice is exactly what the module documents: each coding
//!   weighs its highest q (invalid q: 0), `*` weighs the codings not named,
//!   identity is acceptable unless refused by name or `*;q=0` (and then ranks
//!   below every named coding), the highest weight wins, br > zstd > gzip >
//!   identity on ties, and no acceptable coding is None (406). In particular an
//!   `identity;q=0` or `*;q=0` refusal with nothing available is None.
#![no_main]

use arbitrary::Arbitrary;
use ferrox::codec::Encoding;
use ferrox::handler::negotiate::Accepted;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// Which of br, zstd, gzip and identity are on offer.
    offer: [bool; 4],
    value: &'a str,
}

const CODINGS: [Encoding; 4] = [
    Encoding::Br,
    Encoding::Zstd,
    Encoding::Gzip,
    Encoding::Identity,
];

fuzz_target!(|input: Input| {
    let available: Vec<Encoding> = CODINGS
        .into_iter()
        .zip(input.offer)
        .filter_map(|(e, on)| on.then_some(e))
        .collect();
    assert_eq!(
        Accepted::parse(None).choose(&available),
        Some(Encoding::Identity)
    );

    let accepted = Accepted::parse(Some(input.value));
    let chosen = accepted.choose(&available);
    if let Some(e) = chosen {
        assert!(
            e == Encoding::Identity || available.contains(&e),
            "chose {e:?}"
        );
    }
    let reversed: Vec<Encoding> = available.iter().rev().copied().collect();
    assert_eq!(
        accepted.choose(&reversed),
        chosen,
        "order of available mattered"
    );
    for subset in subsets(&available) {
        let still_offered = chosen.is_none_or(|e| e == Encoding::Identity || subset.contains(&e));
        if still_offered {
            assert_eq!(
                accepted.choose(&subset),
                chosen,
                "{subset:?} of {available:?}"
            );
        }
    }

    if let Some(weights) = reference_weights(input.value) {
        let refused = weights[3] == 0;
        if refused && available.iter().all(|&e| e == Encoding::Identity) {
            assert_eq!(chosen, None, "identity refused and nothing else on offer");
        }
        assert_eq!(
            chosen,
            reference_choice(&weights, &available),
            "{:?}",
            input.value
        );
    }
});

/// Every subset of `available`.
fn subsets(available: &[Encoding]) -> impl Iterator<Item = Vec<Encoding>> + '_ {
    (0u32..1 << available.len()).map(|mask| {
        (available.iter().enumerate())
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, e)| *e)
            .collect()
    })
}

/// The weights (thousandths) of br, zstd, gzip and identity that RFC 9110
/// §12.5.3 gives `value`; None when the value is outside the plain form.
fn reference_weights(value: &str) -> Option<[u16; 4]> {
    if !value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return None;
    }
    let ows = |s: &str| s.trim_matches([' ', '\t']).to_ascii_lowercase();
    let mut named: [Option<u16>; 4] = [None; 4];
    let mut star = None;
    for item in value.split(',') {
        let mut parts = item.split(';');
        let name = ows(parts.next().unwrap_or_default());
        let mut q = 1000;
        for param in parts {
            if let Some((k, v)) = param.split_once('=') {
                if ows(k) == "q" {
                    q = qvalue(&ows(v)).unwrap_or(0);
                }
            }
        }
        let slot = match name.as_str() {
            "br" => 0,
            "zstd" => 1,
            "gzip" | "x-gzip" => 2,
            "identity" => 3,
            "*" if star.is_some() => return None,
            "*" => {
                star = Some(q);
                continue;
            }
            _ => continue,
        };
        named[slot] = Some(named[slot].unwrap_or(0).max(q));
    }
    let mut weights = [0; 4];
    for (i, w) in weights.iter_mut().enumerate() {
        *w = named[i].or(star).unwrap_or(if i == 3 { 1 } else { 0 });
    }
    Some(weights)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` in thousandths.
fn qvalue(v: &str) -> Option<u16> {
    let (int, frac) = match v.as_bytes() {
        [int] => (*int, &[][..]),
        [int, b'.', frac @ ..] if frac.len() <= 3 => (*int, frac),
        _ => return None,
    };
    if !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let thousandths = (0..3).fold(0u16, |n, i| {
        n * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'))
    });
    match int {
        b'0' => Some(thousandths),
        b'1' if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The highest weight among the acceptable codings on offer (identity always
/// is), the earlier one in br, zstd, gzip, identity on ties; None if none.
fn reference_choice(weights: &[u16; 4], available: &[Encoding]) -> Option<Encoding> {
    let mut best: Option<(Encoding, u16)> = None;
    for (e, w) in CODINGS.into_iter().zip(*weights) {
        let offered = e == Encoding::Identity || available.contains(&e);
        if offered && w > 0 && best.is_none_or(|(_, b)| w > b) {
            best = Some((e, w));
        }
    }
    best.map(|(e, _)| e)
}
