//! The subtensor pallet's refusals in an operator's words.
//!
//! The chain answers a refused extrinsic with a pallet error name (`SettingWeightsTooFast`); the
//! name is kept verbatim for scripts and this table adds what it means and what to do.

/// What a `SubtensorModule` (or system) error means for an operator of sn27.
pub fn explain(error: &str) -> &'static str {
    match error {
        "SettingWeightsTooFast" => {
            "weights set too fast: the subnet's weights rate limit has not passed since this \
             hotkey last set weights"
        }
        "CommittingWeightsTooFast" => "weights committed too fast: wait for the rate limit",
        "ServingRateLimitExceeded" => {
            "served too recently: the subnet's serving rate limit has not passed since this \
             hotkey last served (axon and prometheus each have their own)"
        }
        "HotKeyNotRegisteredInSubNet" | "HotKeyNotRegisteredInNetwork" => {
            "the hotkey is not registered on this subnet; run `sn27 register` first"
        }
        "HotKeyAlreadyRegisteredInSubNet" => "the hotkey is already registered on this subnet",
        "NotEnoughStakeToSetWeights" => {
            "the hotkey holds less stake than the subnet's StakeThreshold for setting weights"
        }
        "IncorrectWeightVersionKey" => {
            "the weights version key is below the subnet's WeightsVersionKey; update \
             [validator] weights version or sn27"
        }
        "NeuronNoValidatorPermit" => "the hotkey has no validator permit on this subnet",
        "UidVecContainInvalidOne" => "a uid in the weights does not exist on this subnet",
        "DuplicateUids" => "the weights name a uid twice",
        "WeightVecNotEqualSize" => "uids and weights differ in length",
        "WeightVecLengthIsLow" => "fewer weights than the subnet's MinAllowedWeights",
        "MaxWeightExceeded" => "one weight exceeds the subnet's MaxWeightsLimit share",
        "CommitRevealEnabled" => {
            "the subnet has commit-reveal on: weights must be committed, not set directly"
        }
        "CommitRevealDisabled" => "the subnet has commit-reveal off: set weights directly",
        "TooManyUnrevealedCommits" => "ten commits are still unrevealed; reveal them first",
        "RevealTooEarly" => "the commit's reveal period has not started yet",
        "ExpiredWeightCommit" => "the commit's reveal period is over; commit again",
        "NoWeightsCommitFound" => "there is no commit of this hotkey to reveal",
        "InvalidRevealCommitHashNotMatch" => {
            "the revealed weights, salt or version key do not match the commit"
        }
        "SubNetRegistrationDisabled" => "registration is closed on this subnet",
        "NotEnoughBalanceToStake" | "NotEnoughBalanceToPaySwapHotKey" => {
            "the coldkey's free balance does not cover the burn"
        }
        "NonAssociatedColdKey" => "the hotkey belongs to another coldkey",
        "NoNeuronIdAvailable" => "the subnet is full and no uid can be pruned now",
        "TooManyRegistrationsThisBlock" | "TooManyRegistrationsThisInterval" => {
            "the subnet's registration limit for this interval is reached; try again later"
        }
        "RegistrationPriceLimitExceeded" => "the burn rose above the limit given",
        "InvalidIpType" => "the IP type is neither 4 nor 6",
        "InvalidIpAddress" => {
            "the chain refuses this IP address (loopback and reserved addresses are not \
             accepted); set [axon] external_ip"
        }
        "InvalidPort" => "port 0 cannot be served",
        "SubnetNotExists" | "SubNetworkDoesNotExist" | "MechanismDoesNotExist" => {
            "the subnet does not exist"
        }
        "InsufficientBalance" | "FundsUnavailable" => "the account cannot pay the fee",
        _ => "see the subtensor pallet's error list for this name",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_names() {
        assert!(explain("SettingWeightsTooFast").starts_with("weights set too fast"));
        assert!(explain("InvalidIpAddress").contains("external_ip"));
        assert!(explain("SomethingNew").contains("error list"));
    }
}
