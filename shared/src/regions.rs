//! AWS partitions and their regions, so that a region typo (`us-esat-1`) is caught, not checked.

/// One AWS partition: its id (the second field of an ARN) and the regions it has.
#[derive(Debug, PartialEq, Eq)]
pub struct Partition {
    pub id: &'static str,
    /// Every region of the partition, as the AWS SDK's endpoint data listed them in 2026.
    pub regions: &'static [&'static str],
    /// The prefix a region name of this partition starts with (`cn-`); empty for `aws`.
    prefix: &'static str,
}

/// Every partition. Regions launched after this list was written are accepted when they are the
/// function's own region (see [`check_region`]); list them here when AWS announces them.
pub const PARTITIONS: &[Partition] = &[
    Partition {
        id: "aws",
        prefix: "",
        regions: &[
            "af-south-1",
            "ap-east-1",
            "ap-east-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-6",
            "ap-southeast-7",
            "ca-central-1",
            "ca-west-1",
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "il-central-1",
            "me-central-1",
            "me-south-1",
            "mx-central-1",
            "sa-east-1",
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
        ],
    },
    Partition {
        id: "aws-cn",
        prefix: "cn-",
        regions: &["cn-north-1", "cn-northwest-1"],
    },
    Partition {
        id: "aws-us-gov",
        prefix: "us-gov-",
        regions: &["us-gov-east-1", "us-gov-west-1"],
    },
    Partition {
        id: "aws-eusc",
        prefix: "eusc-",
        regions: &["eusc-de-east-1"],
    },
    Partition {
        id: "aws-iso",
        prefix: "us-iso-",
        regions: &["us-iso-east-1", "us-iso-west-1"],
    },
    Partition {
        id: "aws-iso-b",
        prefix: "us-isob-",
        regions: &["us-isob-east-1", "us-isob-west-1"],
    },
    Partition {
        id: "aws-iso-e",
        prefix: "eu-isoe-",
        regions: &["eu-isoe-west-1"],
    },
    Partition {
        id: "aws-iso-f",
        prefix: "us-isof-",
        regions: &["us-isof-east-1", "us-isof-south-1"],
    },
];

/// The partition a region belongs to: by the list, else by its name's prefix (so a region newer
/// than the list still finds its partition), else `aws`.
pub fn partition_of(region: &str) -> &'static Partition {
    PARTITIONS
        .iter()
        .find(|p| p.regions.contains(&region))
        .or_else(|| {
            PARTITIONS
                .iter()
                .filter(|p| !p.prefix.is_empty() && region.starts_with(p.prefix))
                .max_by_key(|p| p.prefix.len())
        })
        .unwrap_or(&PARTITIONS[0])
}

/// Why a region name was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{region:?} is not a region of the {partition} partition{}", suggestion.as_ref().map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default())]
pub struct UnknownRegion {
    pub region: String,
    pub partition: &'static str,
    /// The closest region of the partition, when one is close enough to be a typo.
    pub suggestion: Option<&'static str>,
}

/// Accepts `region` when it is a region of the partition `own_region` (the function's region) is
/// in, or `own_region` itself. Otherwise the error names the partition and the likeliest intended
/// region.
pub fn check_region(region: &str, own_region: &str) -> Result<(), UnknownRegion> {
    let partition = partition_of(own_region);
    if region == own_region || partition.regions.contains(&region) {
        return Ok(());
    }
    let suggestion = partition
        .regions
        .iter()
        .map(|r| (strsim::damerau_levenshtein(region, r), *r))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, r)| r);
    Err(UnknownRegion {
        region: region.to_string(),
        partition: partition.id,
        suggestion,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transposed_region_name_is_refused_with_the_likely_intended_region() {
        let err = check_region("us-esat-1", "eu-west-1").unwrap_err();
        assert_eq!(err.suggestion, Some("us-east-1"));
        assert_eq!(
            err.to_string(),
            "\"us-esat-1\" is not a region of the aws partition (did you mean \"us-east-1\"?)"
        );
    }

    #[test]
    fn regions_of_the_functions_partition_are_accepted() {
        for region in [
            "us-east-1",
            "ap-southeast-7",
            "mx-central-1",
            "eu-central-2",
        ] {
            assert_eq!(check_region(region, "eu-west-1"), Ok(()), "{region}");
        }
        assert_eq!(check_region("cn-north-1", "cn-northwest-1"), Ok(()));
        assert_eq!(check_region("us-gov-east-1", "us-gov-west-1"), Ok(()));
    }

    #[test]
    fn a_region_of_another_partition_is_refused() {
        let err = check_region("cn-north-1", "us-east-1").unwrap_err();
        assert_eq!(err.partition, "aws");
        let err = check_region("us-east-1", "us-gov-west-1").unwrap_err();
        assert_eq!(err.partition, "aws-us-gov");
    }

    #[test]
    fn the_functions_own_region_is_accepted_even_when_newer_than_the_list() {
        assert_eq!(check_region("ap-newer-9", "ap-newer-9"), Ok(()));
        assert_eq!(partition_of("cn-south-7").id, "aws-cn");
        assert_eq!(partition_of("us-isob-north-3").id, "aws-iso-b");
        assert_eq!(partition_of("eu-west-9").id, "aws");
    }

    #[test]
    fn a_name_far_from_every_region_gets_no_suggestion() {
        let err = check_region("production", "us-east-1").unwrap_err();
        assert_eq!(err.suggestion, None);
    }
}
