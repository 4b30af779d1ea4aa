//! The health gate's `UserParameters`: JSON, or a plain comma-separated list of regions.

use serde::Deserialize;
use tollgate::pipeline_job::{ParamsError, parse_user_parameters};

/// What to do when the AWS Health API cannot be used (no Business/Enterprise support plan).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenUnavailable {
    #[default]
    Fail,
    Pass,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawParams {
    regions: Option<Vec<String>>,
    services: Option<Vec<String>>,
    #[serde(default)]
    alarms: Vec<String>,
    #[serde(default)]
    alarm_prefixes: Vec<String>,
    #[serde(default)]
    when_health_unavailable: WhenUnavailable,
}

/// AWS Health's DescribeEvents filter accepts at most this many service codes.
pub const MAX_SERVICES: usize = 10;

/// The health gate's settings for one job, defaults applied and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateParams {
    /// Regions whose open issues block the deployment (global events always count).
    pub regions: Vec<String>,
    /// AWS Health service codes (upper case) to watch; `None` watches every service.
    pub services: Option<Vec<String>>,
    pub alarms: Vec<String>,
    pub alarm_prefixes: Vec<String>,
    pub when_health_unavailable: WhenUnavailable,
}

/// Parses `UserParameters`. `default_region` is the function's own region, used when none is given.
pub fn parse(raw: Option<&str>, default_region: &str) -> Result<GateParams, ParamsError> {
    let text = raw.map(str::trim).unwrap_or("");
    tollgate::limits::USER_PARAMETERS
        .check(text)
        .map_err(|e| ParamsError(e.to_string()))?;
    let raw = if text.is_empty() || text.starts_with('{') {
        parse_user_parameters::<RawParams>(Some(text))?
    } else {
        RawParams {
            regions: Some(text.split(',').map(|r| r.trim().to_string()).collect()),
            ..RawParams::default()
        }
    };
    let regions = match raw.regions {
        None => vec![default_region.to_string()],
        Some(list) if list.is_empty() => {
            return Err(ParamsError(
                "`regions` is empty; list at least one region or leave it out to check this function's region".into(),
            ));
        }
        Some(list) => list,
    };
    for region in &regions {
        tollgate::limits::REGION
            .check(region)
            .map_err(|e| ParamsError(format!("`regions`: {e}")))?;
        if !tollgate::aws::is_region_name(region) {
            return Err(ParamsError(format!(
                "{region:?} is not an AWS region name (expected a JSON object, or regions like \"us-east-1,eu-west-1\")"
            )));
        }
        // A well-formed name can still be a typo (`us-esat-1`): it must be a real region of the
        // function's partition, or the gate would watch a region that has no events.
        tollgate::regions::check_region(region, default_region)
            .map_err(|e| ParamsError(format!("`regions`: {e}")))?;
    }
    let services = match raw.services {
        Some(list) if list.is_empty() => None,
        Some(list) if list.len() > MAX_SERVICES => {
            return Err(ParamsError(format!(
                "`services` lists {} services; AWS Health accepts at most {MAX_SERVICES} (leave it out to watch every service)",
                list.len()
            )));
        }
        Some(list) => {
            let mut codes = Vec::with_capacity(list.len());
            for service in list {
                tollgate::limits::HEALTH_SERVICE
                    .check(service.trim())
                    .map_err(|e| ParamsError(format!("`services`: {e}")))?;
                let code = service.trim().to_ascii_uppercase();
                if code.is_empty()
                    || !code
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(ParamsError(format!(
                        "{service:?} is not an AWS Health service code (e.g. \"LAMBDA\", \"DYNAMODB\")"
                    )));
                }
                codes.push(code);
            }
            Some(codes)
        }
        None => None,
    };
    if let Some(blank) = raw
        .alarms
        .iter()
        .chain(&raw.alarm_prefixes)
        .find(|a| a.trim().is_empty())
    {
        return Err(ParamsError(format!(
            "alarm names and prefixes cannot be blank (got {blank:?})"
        )));
    }
    for (field, name) in raw
        .alarms
        .iter()
        .map(|a| ("alarms", a))
        .chain(raw.alarm_prefixes.iter().map(|p| ("alarmPrefixes", p)))
    {
        tollgate::limits::ALARM_NAME
            .check(name)
            .map_err(|e| ParamsError(format!("`{field}`: {e}")))?;
    }
    Ok(GateParams {
        regions,
        services,
        alarms: raw.alarms,
        alarm_prefixes: raw.alarm_prefixes,
        when_health_unavailable: raw.when_health_unavailable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alarm_name_over_cloudwatchs_limit_is_refused_naming_the_limit() {
        let raw = format!(r#"{{"alarms":["{}"]}}"#, "a".repeat(256));
        let text = parse(Some(&raw), "eu-west-1").unwrap_err().to_string();
        assert!(
            text.contains("`alarms`")
                && text.contains("CloudWatch alarm name")
                && text.contains("255"),
            "{text}"
        );
        let raw = format!(r#"{{"alarmPrefixes":["{}"]}}"#, "p".repeat(256));
        assert!(
            parse(Some(&raw), "eu-west-1")
                .unwrap_err()
                .to_string()
                .contains("`alarmPrefixes`")
        );
        let ok = format!(r#"{{"alarms":["{}"]}}"#, "a".repeat(255));
        assert!(parse(Some(&ok), "eu-west-1").is_ok());
    }

    #[test]
    fn a_two_megabyte_parameter_is_refused_before_any_call_without_being_echoed() {
        let huge = format!(r#"{{"alarms":["{}"]}}"#, "a".repeat(2_000_000));
        let text = parse(Some(&huge), "eu-west-1").unwrap_err().to_string();
        assert!(
            text.contains("UserParameters") && text.contains("1000"),
            "{text:.300}"
        );
        assert!(text.len() < 400, "{} bytes", text.len());
        let csv = "eu-west-1,".repeat(200_000);
        assert!(
            parse(Some(&csv), "eu-west-1")
                .unwrap_err()
                .to_string()
                .len()
                < 400
        );
    }

    #[test]
    fn a_service_code_over_aws_healths_limit_is_refused_naming_the_limit() {
        let raw = format!(r#"{{"services":["{}"]}}"#, "S".repeat(31));
        let text = parse(Some(&raw), "eu-west-1").unwrap_err().to_string();
        assert!(
            text.contains("AWS Health service code") && text.contains("30"),
            "{text}"
        );
    }

    #[test]
    fn absent_parameters_check_the_functions_region_with_all_services_and_fail_closed() {
        let p = parse(None, "eu-west-1").unwrap();
        assert_eq!(p.regions, vec!["eu-west-1"]);
        assert_eq!(p.services, None);
        assert!(p.alarms.is_empty() && p.alarm_prefixes.is_empty());
        assert_eq!(p.when_health_unavailable, WhenUnavailable::Fail);
    }

    #[test]
    fn json_parameters_are_read_and_services_upper_cased() {
        let p = parse(
            Some(r#"{"regions":["us-east-1","eu-west-1"],"services":["lambda","DYNAMODB"],"alarms":["api-5xx"],"alarmPrefixes":["prod-"],"whenHealthUnavailable":"pass"}"#),
            "eu-west-1",
        )
        .unwrap();
        assert_eq!(p.regions, vec!["us-east-1", "eu-west-1"]);
        assert_eq!(
            p.services,
            Some(vec!["LAMBDA".to_string(), "DYNAMODB".to_string()])
        );
        assert_eq!(p.alarms, vec!["api-5xx"]);
        assert_eq!(p.alarm_prefixes, vec!["prod-"]);
        assert_eq!(p.when_health_unavailable, WhenUnavailable::Pass);
    }

    #[test]
    fn plain_comma_separated_regions_are_accepted_like_the_aws_sample() {
        let p = parse(Some(" us-east-1, eu-west-1 "), "ap-south-1").unwrap();
        assert_eq!(p.regions, vec!["us-east-1", "eu-west-1"]);
    }

    #[test]
    fn unknown_field_is_named_in_the_error() {
        let err = parse(Some(r#"{"region":"us-east-1"}"#), "eu-west-1").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("UserParameters: unknown field `region`"),
            "{text}"
        );
    }

    #[test]
    fn bad_json_says_userparameters() {
        let err = parse(Some(r#"{"regions": ["us-east-1"]"#), "eu-west-1").unwrap_err();
        assert!(err.to_string().starts_with("UserParameters: "), "{err}");
    }

    #[test]
    fn bad_policy_value_lists_the_allowed_ones() {
        let err = parse(Some(r#"{"whenHealthUnavailable":"maybe"}"#), "eu-west-1").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`fail`") && text.contains("`pass`"), "{text}");
    }

    #[test]
    fn non_region_text_is_rejected_with_the_expected_forms() {
        let err = parse(Some("production"), "eu-west-1").unwrap_err();
        assert!(
            err.to_string()
                .contains("\"production\" is not an AWS region"),
            "{err}"
        );
        assert!(parse(Some(r#"{"regions":["US-EAST-1"]}"#), "eu-west-1").is_err());
        assert!(parse(Some(r#"{"regions":[]}"#), "eu-west-1").is_err());
    }

    #[test]
    fn a_region_typo_is_a_configuration_error_suggesting_the_region() {
        let err = parse(
            Some(r#"{"regions":["eu-west-1","us-esat-1"]}"#),
            "eu-west-1",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "UserParameters: `regions`: \"us-esat-1\" is not a region of the aws partition (did you mean \"us-east-1\"?)"
        );
        let err = parse(Some("us-east-1,eu-wset-1"), "eu-west-1").unwrap_err();
        assert!(
            err.to_string().contains("did you mean \"eu-west-1\""),
            "{err}"
        );
    }

    #[test]
    fn a_region_of_another_partition_is_a_configuration_error() {
        let err = parse(Some(r#"{"regions":["cn-north-1"]}"#), "us-east-1").unwrap_err();
        assert!(
            err.to_string()
                .contains("not a region of the aws partition"),
            "{err}"
        );
    }

    #[test]
    fn more_services_than_aws_health_accepts_is_a_clear_error() {
        let services: Vec<String> = (0..11).map(|i| format!("\"S{i}\"")).collect();
        let err = parse(
            Some(&format!(r#"{{"services":[{}]}}"#, services.join(","))),
            "eu-west-1",
        )
        .unwrap_err();
        assert!(err.to_string().contains("at most 10"), "{err}");
    }

    #[test]
    fn blank_alarm_names_and_bad_service_codes_are_rejected() {
        assert!(parse(Some(r#"{"alarms":[" "]}"#), "eu-west-1").is_err());
        assert!(parse(Some(r#"{"services":["LAMBDA; DROP"]}"#), "eu-west-1").is_err());
    }
}
