//! Transactions the node refuses before they reach a block, in an operator's words.
//!
//! A node checks every submitted transaction against the runtime (`validate_transaction`)
//! before it enters the pool. A refusal there is not a dispatch error: nothing is included, no
//! fee is paid and no nonce is used. It comes back as a JSON-RPC error — code 1010 for an
//! invalid transaction, 1011 for one whose validity cannot be determined — whose text takes one
//! of two shapes:
//!
//! - Substrate's RPC server (`sc-rpc-api` `author/error.rs`): message `Invalid Transaction`,
//!   data `Custom error: 11` or the standard reason's sentence (`Transaction is outdated`);
//!   message `Unknown Transaction Validity`, data the reason's name (`CannotLookup`,
//!   `Custom(3)`).
//! - The validity error as JSON, as polkadot.js-style nodes print it: `{"invalid":{"custom":11}}`,
//!   `{"invalid":"payment"}`, `{"unknown":"cannotLookup"}` (any letter case).
//!
//! [`rejection`] reads either shape into a name and an explanation with the fix; the subtensor
//! runtime's custom codes (`CustomTransactionError`) are in [`custom`].

use std::borrow::Cow;

/// JSON-RPC error code of a transaction the runtime calls invalid.
pub const INVALID_TRANSACTION: i32 = 1010;
/// JSON-RPC error code of a transaction whose validity the runtime cannot determine.
pub const UNKNOWN_VALIDITY: i32 = 1011;

/// A refused transaction: the reason's name and what it means here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `InvalidIpAddress` for a subtensor custom code, `Stale` or `CannotLookup` for the
    /// standard reasons, `TemporarilyBanned` and the like for the pool's own refusals.
    pub name: Cow<'static, str>,
    /// How the node said it: `invalid transaction, custom error 11`.
    pub code: String,
    pub explanation: String,
}

/// The refusal behind a JSON-RPC error from `author_submit*`, or `None` when the error is not
/// a transaction refusal. `data` is the error's raw JSON data, if any.
pub fn rejection(code: i32, message: &str, data: Option<&str>) -> Option<Rejection> {
    let data: Option<String> = data.map(|raw| match serde_json::from_str(raw) {
        Ok(serde_json::Value::String(text)) => text,
        _ => raw.to_string(),
    });
    let texts: Vec<&str> = [Some(message), data.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    match code {
        INVALID_TRANSACTION | UNKNOWN_VALIDITY => {
            let unknown = code == UNKNOWN_VALIDITY;
            let reason = texts
                .iter()
                .find_map(|text| from_json(text).or_else(|| from_words(text, unknown)));
            Some(match reason {
                Some(reason) => reason.describe(),
                None => Rejection {
                    name: if unknown {
                        "UnknownValidity"
                    } else {
                        "Invalid"
                    }
                    .into(),
                    code: texts.join(": "),
                    explanation: "the node gave a reason sn27 does not know; see the runtime's \
                                  transaction validity errors"
                        .into(),
                },
            })
        }
        // The pool's own refusals (`sc-rpc-api` `author/error.rs`, POOL_INVALID_TX + n).
        1012 => Some(pool(
            "TemporarilyBanned",
            texts,
            "the node refused this exact transaction a moment ago and bans it for a while; \
             wait a minute and run the command again",
        )),
        1013 => Some(pool(
            "AlreadyImported",
            texts,
            "the same transaction is already in the node's pool; wait for it to land",
        )),
        1014 => Some(pool(
            "TooLowPriority",
            texts,
            "another transaction with the same nonce is already in the pool; wait for it to \
             land, then run the command again",
        )),
        _ => None,
    }
}

/// The refusal behind a transaction-status message (`Invalid` or `Dropped` after submission),
/// when its text names a reason; `None` otherwise.
pub fn from_status(text: &str) -> Option<Rejection> {
    from_json(text)
        .or_else(|| from_words(text, false))
        .map(Reason::describe)
}

fn pool(name: &'static str, texts: Vec<&str>, explanation: &str) -> Rejection {
    Rejection {
        name: name.into(),
        code: texts.join(": "),
        explanation: explanation.into(),
    }
}

/// A validity error as the runtime defines it (`sp_runtime::transaction_validity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// `InvalidTransaction::<variant>`, by the variant's index in [`INVALID`].
    Invalid(usize),
    /// `InvalidTransaction::Custom(n)`.
    InvalidCustom(u8),
    /// `UnknownTransaction::<variant>`, by index in [`UNKNOWN`].
    Unknown(usize),
    /// `UnknownTransaction::Custom(n)`.
    UnknownCustom(u8),
}

impl Reason {
    fn describe(self) -> Rejection {
        match self {
            Reason::Invalid(i) => Rejection {
                name: INVALID[i].0.into(),
                code: format!("invalid transaction, {}", INVALID[i].1),
                explanation: INVALID[i].2.into(),
            },
            Reason::Unknown(i) => Rejection {
                name: UNKNOWN[i].0.into(),
                code: format!("unknown validity, {}", UNKNOWN[i].1),
                explanation: UNKNOWN[i].2.into(),
            },
            Reason::InvalidCustom(n) => {
                let (name, explanation) = custom(n).unwrap_or((
                    "CustomTransactionError",
                    "a custom code this build does not know; see the subtensor runtime's \
                     CustomTransactionError",
                ));
                Rejection {
                    name: name.into(),
                    code: format!("invalid transaction, custom error {n}"),
                    explanation: explanation.into(),
                }
            }
            Reason::UnknownCustom(n) => Rejection {
                name: "UnknownCustom".into(),
                code: format!("unknown validity, custom error {n}"),
                explanation: "the runtime could not decide whether the transaction is valid".into(),
            },
        }
    }
}

/// `InvalidTransaction`'s variants: name, the sentence Substrate's RPC server sends for it
/// (`impl From<InvalidTransaction> for &'static str` in polkadot-sdk
/// `substrate/primitives/runtime/src/transaction_validity.rs`), and the fix.
const INVALID: &[(&str, &str, &str)] = &[
    (
        "Call",
        "Transaction call is not expected",
        "the runtime does not accept this call here",
    ),
    (
        "Payment",
        "Inability to pay some fees (e.g. account balance too low)",
        "the signing account cannot pay the transaction fee; fund it and run the command again",
    ),
    (
        "Future",
        "Transaction will be valid in the future",
        "the nonce is ahead of the account's (an earlier transaction is still pending); wait \
         for it to land and run the command again",
    ),
    (
        "Stale",
        "Transaction is outdated",
        "the nonce was already used (another transaction from this key landed first); run the \
         command again",
    ),
    (
        "BadProof",
        "Transaction has a bad signature",
        "the signature does not verify, most often because the runtime was upgraded while \
         signing; run the command again",
    ),
    (
        "AncientBirthBlock",
        "Transaction has an ancient birth block",
        "the transaction's era began too long ago; run the command again",
    ),
    (
        "ExhaustsResources",
        "Transaction would exhaust the block limits",
        "the block is full; run the command again in a block or two",
    ),
    (
        "BadMandatory",
        "A call was labelled as mandatory, but resulted in an Error.",
        "an inherent failed; this is not a transaction sn27 sends",
    ),
    (
        "MandatoryValidation",
        "Transaction dispatch is mandatory; transactions must not be validated.",
        "an inherent was submitted as a transaction; this is not one sn27 sends",
    ),
    (
        "BadSigner",
        "Invalid signing address",
        "the runtime does not accept transactions signed by this account",
    ),
    (
        "IndeterminateImplicit",
        "The implicit data was unable to be calculated",
        "the node could not compute a transaction extension's signed data; sn27 may need an \
         update for this runtime",
    ),
    (
        "UnknownOrigin",
        "The transaction extension did not authorize any origin",
        "no transaction extension authorized the signer; sn27 may need an update for this \
         runtime",
    ),
];

/// `UnknownTransaction`'s variants, as [`INVALID`].
const UNKNOWN: &[(&str, &str, &str)] = &[
    (
        "CannotLookup",
        "Could not lookup information required to validate the transaction",
        "the node lacks state it needs to validate the transaction (an account that does not \
         exist yet, or a node still syncing); check the account and the node",
    ),
    (
        "NoUnsignedValidator",
        "Could not find an unsigned validator for the unsigned transaction",
        "an unsigned transaction no pallet validates; this is not one sn27 sends",
    ),
];

/// The subtensor runtime's `CustomTransactionError` codes, what each means for an operator and
/// what to do. Numbering from opentensor/subtensor `common/src/transaction_error.rs`
/// (`impl From<CustomTransactionError> for u8`, read at commit 14bc6f9f, 2026-06); codes 0–20
/// are unchanged since the enum was added to `pallets/subtensor/src/lib.rs`. Several pallet
/// errors share a code (`pallets/subtensor/src/extensions/subtensor.rs`), e.g. 6 covers
/// `SettingWeightsTooFast` and `CommittingWeightsTooFast`, 17 covers `RevealTooEarly`.
pub fn custom(code: u8) -> Option<(&'static str, &'static str)> {
    Some(match code {
        0 => (
            "ColdkeyInSwapSchedule",
            "the coldkey has a swap announced; it can send nothing else until the swap is done",
        ),
        1 => (
            "StakeAmountTooLow",
            "the amount is below the minimum, or the hotkey's stake is below the subnet's \
             StakeThreshold for setting weights",
        ),
        2 => (
            "BalanceTooLow",
            "the coldkey's free balance does not cover the amount (for registration: the burn)",
        ),
        3 => (
            "SubnetNotExists",
            "the subnet does not exist; check [chain] netuid",
        ),
        4 => (
            "HotkeyAccountDoesntExist",
            "the hotkey is not registered on the network; run `sn27 register` first",
        ),
        5 => (
            "NotEnoughStakeToWithdraw",
            "the stake is less than the amount asked for, fee included",
        ),
        6 => (
            "RateLimitExceeded",
            "too soon since this key's last transaction of this kind (for weights: the \
             subnet's weights rate limit); wait and try again",
        ),
        7 => (
            "InsufficientLiquidity",
            "the subnet's pool lacks the liquidity for this amount",
        ),
        8 => ("SlippageTooHigh", "the price moved beyond the limit given"),
        9 => (
            "TransferDisallowed",
            "the subnet does not allow stake transfers",
        ),
        10 => (
            "HotKeyNotRegisteredInNetwork",
            "the hotkey is not registered on this subnet; run `sn27 register` first",
        ),
        11 => (
            "InvalidIpAddress",
            "the chain refuses this axon address (0.0.0.0, 127.0.0.1, ::1 and all-ones are \
             invalid); set [axon] external_ip to the public address validators reach this \
             machine at",
        ),
        12 => (
            "ServingRateLimitExceeded",
            "served too recently: the subnet's serving rate limit has not passed; wait and \
             try again",
        ),
        13 => (
            "InvalidPort",
            "port 0 cannot be served; set [axon] port (or external_port)",
        ),
        14 => ("ZeroMaxAmount", "the maximum amount given is zero"),
        15 => (
            "InvalidRevealRound",
            "the timelocked commit's reveal round is not one the chain accepts",
        ),
        16 => (
            "CommitNotFound",
            "there is no commit of this hotkey to reveal (never made, or expired)",
        ),
        17 => (
            "CommitBlockNotInRevealRange",
            "the commit is not in its reveal window (too early, or expired)",
        ),
        18 => (
            "InputLengthsUnequal",
            "uids, weights and salt differ in length",
        ),
        19 => (
            "UidNotFound",
            "the hotkey has no uid on this subnet; run `sn27 register` first",
        ),
        20 => (
            "EvmKeyAssociateRateLimitExceeded",
            "an EVM key was associated too recently",
        ),
        21 => (
            "ColdkeySwapDisputed",
            "the coldkey's swap is disputed; it can send nothing until that is settled",
        ),
        22 => (
            "InvalidRealAccount",
            "the proxied (real) account is not valid",
        ),
        23 => (
            "FailedShieldedTxParsing",
            "a shielded transaction could not be parsed",
        ),
        24 => (
            "InvalidShieldedTxPubKeyHash",
            "a shielded transaction names an unknown key",
        ),
        25 => (
            "NonAssociatedColdKey",
            "the hotkey belongs to another coldkey; use that coldkey's wallet",
        ),
        26 => (
            "DelegateTakeTooLow",
            "the delegate take is below the minimum",
        ),
        27 => (
            "DelegateTakeTooHigh",
            "the delegate take is above the maximum",
        ),
        255 => (
            "BadRequest",
            "the runtime refused the call (a pallet error without a code of its own); check \
             its arguments",
        ),
        _ => return None,
    })
}

/// `{"invalid":{"custom":11}}`, `{"invalid":"payment"}`, `{"Unknown":{"CannotLookup":null}}`.
fn from_json(text: &str) -> Option<Reason> {
    let serde_json::Value::Object(outer) = serde_json::from_str(text.trim()).ok()? else {
        return None;
    };
    let (kind, inner) = outer.iter().next().filter(|_| outer.len() == 1)?;
    let unknown = match kind.to_ascii_lowercase().as_str() {
        "invalid" => false,
        "unknown" => true,
        _ => return None,
    };
    let (variant, payload) = match inner {
        serde_json::Value::String(name) => (name.as_str(), None),
        serde_json::Value::Object(map) if map.len() == 1 => {
            let (name, payload) = map.iter().next()?;
            (name.as_str(), Some(payload))
        }
        _ => return None,
    };
    if variant.eq_ignore_ascii_case("custom") {
        let n = u8::try_from(payload?.as_u64()?).ok()?;
        return Some(if unknown {
            Reason::UnknownCustom(n)
        } else {
            Reason::InvalidCustom(n)
        });
    }
    let table = if unknown { UNKNOWN } else { INVALID };
    let i = table
        .iter()
        .position(|(name, _, _)| name.eq_ignore_ascii_case(variant))?;
    Some(if unknown {
        Reason::Unknown(i)
    } else {
        Reason::Invalid(i)
    })
}

/// Substrate's words: `Custom error: 11`, `Custom(3)`, `CannotLookup`, or a reason's sentence.
fn from_words(text: &str, unknown: bool) -> Option<Reason> {
    let text = text.trim();
    let custom = text
        .strip_prefix("Custom error: ")
        .or_else(|| text.strip_prefix("Custom(")?.strip_suffix(')'))
        .and_then(|n| n.trim().parse::<u8>().ok());
    if let Some(n) = custom {
        return Some(if unknown {
            Reason::UnknownCustom(n)
        } else {
            Reason::InvalidCustom(n)
        });
    }
    let matches = |(name, sentence, _): &(&str, &str, &str)| *name == text || *sentence == text;
    if let Some(i) = UNKNOWN.iter().position(matches) {
        return Some(Reason::Unknown(i));
    }
    INVALID.iter().position(matches).map(Reason::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(code: i32, message: &str, data: Option<&str>) -> (String, String) {
        let r = rejection(code, message, data).expect("a rejection");
        (r.name.into_owned(), r.code)
    }

    #[test]
    fn both_shapes_of_a_custom_code() {
        let expected = (
            "InvalidIpAddress".to_string(),
            "invalid transaction, custom error 11".to_string(),
        );
        assert_eq!(named(1010, r#"{"invalid":{"custom":11}}"#, None), expected);
        assert_eq!(named(1010, r#"{"Invalid":{"Custom":11}}"#, None), expected);
        assert_eq!(
            named(1010, "Invalid Transaction", Some(r#""Custom error: 11""#)),
            expected
        );
        let r = rejection(1010, r#"{"invalid":{"custom":11}}"#, None).unwrap();
        assert!(r.explanation.contains("external_ip"), "{}", r.explanation);
    }

    #[test]
    fn standard_reasons_by_sentence_and_by_name() {
        assert_eq!(
            named(
                1010,
                "Invalid Transaction",
                Some(r#""Inability to pay some fees (e.g. account balance too low)""#)
            )
            .0,
            "Payment"
        );
        assert_eq!(named(1010, r#"{"invalid":"stale"}"#, None).0, "Stale");
        assert_eq!(
            named(1010, r#"{"invalid":{"badProof":null}}"#, None).0,
            "BadProof"
        );
        assert_eq!(
            named(
                1011,
                "Unknown Transaction Validity",
                Some(r#""CannotLookup""#)
            ),
            (
                "CannotLookup".to_string(),
                "unknown validity, Could not lookup information required to validate the \
                 transaction"
                    .to_string()
            )
        );
        assert_eq!(
            named(1011, "Unknown Transaction Validity", Some(r#""Custom(4)""#)).1,
            "unknown validity, custom error 4"
        );
        assert_eq!(
            named(1012, "Transaction is temporarily banned", None).0,
            "TemporarilyBanned"
        );
    }

    #[test]
    fn unknown_codes_and_other_errors() {
        let r = rejection(1010, r#"{"invalid":{"custom":200}}"#, None).unwrap();
        assert_eq!(r.name, "CustomTransactionError");
        assert!(r.code.ends_with("custom error 200"));
        let r = rejection(1010, "Invalid Transaction", Some(r#""something new""#)).unwrap();
        assert_eq!(r.name, "Invalid");
        assert!(r.code.contains("something new"));
        assert_eq!(rejection(-32601, "Method not found", None), None);
        assert_eq!(
            from_status("Transaction is outdated").unwrap().name,
            "Stale"
        );
        assert_eq!(from_status("the node went away"), None);
    }

    #[test]
    fn every_code_up_to_the_last_has_a_name() {
        for code in (0..=27).chain([255]) {
            assert!(custom(code).is_some(), "custom error {code}");
        }
        assert_eq!(custom(11).unwrap().0, "InvalidIpAddress");
        assert_eq!(custom(28), None);
    }
}
