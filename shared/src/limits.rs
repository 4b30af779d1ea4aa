//! AWS's own length limits on the names and ids functions accept, and the cut applied to what reaches logs.

use std::borrow::Cow;

use crate::text::truncate;

/// One length limit AWS sets on a kind of value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What the value is, as a message names it: "a CloudWatch alarm name".
    pub what: &'static str,
    /// The most characters AWS accepts.
    pub max_chars: usize,
}

/// CloudWatch `AlarmName` (and an alarm name prefix): 1 to 255 characters.
pub const ALARM_NAME: Limit = Limit {
    what: "a CloudWatch alarm name",
    max_chars: 255,
};
/// CloudFormation `StackName`: 1 to 128 characters (a stack id, an ARN, may be longer).
pub const STACK_NAME: Limit = Limit {
    what: "a CloudFormation stack name",
    max_chars: 128,
};
/// A CloudFormation stack id (ARN): 2048 characters at most, as other ARNs.
pub const ARN: Limit = Limit {
    what: "an ARN",
    max_chars: 2048,
};
/// A CodePipeline job id: a UUID, 36 characters.
pub const JOB_ID: Limit = Limit {
    what: "a CodePipeline job id",
    max_chars: 36,
};
/// A CodePipeline action's `UserParameters` (an action configuration value): 1000 characters.
pub const USER_PARAMETERS: Limit = Limit {
    what: "UserParameters",
    max_chars: 1000,
};
/// An AWS Health service code (`EC2`, `CLOUDFORMATION`): 2 to 30 characters.
pub const HEALTH_SERVICE: Limit = Limit {
    what: "an AWS Health service code",
    max_chars: 30,
};
/// An AWS Health event type code (`AWS_EC2_OPERATIONAL_ISSUE`): 3 to 100 characters.
pub const HEALTH_EVENT_TYPE_CODE: Limit = Limit {
    what: "an AWS Health event type code",
    max_chars: 100,
};
/// A region name as AWS Health filters take it: 2 to 25 characters.
pub const REGION: Limit = Limit {
    what: "a region name",
    max_chars: 25,
};
/// A CodePipeline pipeline name: 1 to 100 characters.
pub const PIPELINE_NAME: Limit = Limit {
    what: "a CodePipeline pipeline name",
    max_chars: 100,
};

/// A value over its [`Limit`].
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error(
    "{what} is at most {max_chars} characters (AWS's limit), and this one is {actual} characters long: {preview:?}"
)]
pub struct TooLong {
    pub what: &'static str,
    pub max_chars: usize,
    pub actual: usize,
    /// The value's first characters, for the message.
    pub preview: String,
}

/// How much of an over-long value a message shows.
pub const PREVIEW_MAX_BYTES: usize = 64;

impl Limit {
    /// `Ok` when `value` is within the limit; else an error naming the limit, showing only the
    /// value's first [`PREVIEW_MAX_BYTES`] bytes.
    pub fn check(&self, value: &str) -> Result<(), TooLong> {
        // Bytes first: no character count over a huge value when it is plainly short enough.
        if value.len() <= self.max_chars {
            return Ok(());
        }
        let actual = value.chars().count();
        if actual <= self.max_chars {
            return Ok(());
        }
        Err(TooLong {
            what: self.what,
            max_chars: self.max_chars,
            actual,
            preview: truncate(value, PREVIEW_MAX_BYTES),
        })
    }
}

/// The most of one value that goes into a log line.
pub const LOG_VALUE_MAX_BYTES: usize = 1024;

/// `text` cut to [`LOG_VALUE_MAX_BYTES`] for a log line (borrowed when it already fits).
pub fn for_log(text: &str) -> Cow<'_, str> {
    if text.len() <= LOG_VALUE_MAX_BYTES {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(truncate(text, LOG_VALUE_MAX_BYTES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_at_the_limit_passes_and_one_over_is_refused_naming_the_limit() {
        assert_eq!(ALARM_NAME.check(&"a".repeat(255)), Ok(()));
        let err = ALARM_NAME.check(&"a".repeat(256)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("CloudWatch alarm name") && text.contains("255") && text.contains("256"),
            "{text}"
        );
    }

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        assert_eq!(STACK_NAME.check(&"é".repeat(128)), Ok(()));
        assert!(STACK_NAME.check(&"é".repeat(129)).is_err());
    }

    #[test]
    fn a_huge_value_is_not_echoed_whole() {
        let huge = "x".repeat(2_000_000);
        let text = ALARM_NAME.check(&huge).unwrap_err().to_string();
        assert!(text.len() < 300, "{} bytes", text.len());
        assert!(text.contains("2000000"), "{text}");
    }

    #[test]
    fn log_values_are_cut_and_short_ones_borrowed() {
        assert!(matches!(for_log("job-1"), Cow::Borrowed("job-1")));
        assert!(for_log(&"y".repeat(300_000)).len() <= LOG_VALUE_MAX_BYTES);
    }
}
