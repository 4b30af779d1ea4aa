//! The CloudWatch alarm adapter against a real moto server.

use aws_sdk_cloudwatch::types::StateValue;
use health_gate::alarms::{AlarmStates, CloudWatchAlarms};
use tollgate_tests::{moto_config, put_alarm, unique};

#[tokio::test]
async fn named_alarm_in_alarm_is_reported_with_its_reason_and_ok_alarms_are_not() {
    let client = aws_sdk_cloudwatch::Client::new(&moto_config().await);
    let firing = unique("api-5xx");
    let quiet = unique("api-latency");
    put_alarm(
        &client,
        &firing,
        Some(("Threshold Crossed: 12 > 5", StateValue::Alarm)),
    )
    .await;
    put_alarm(
        &client,
        &quiet,
        Some(("Threshold not crossed", StateValue::Ok)),
    )
    .await;

    let reading = CloudWatchAlarms::new(client)
        .check(&[firing.clone(), quiet.clone()], &[])
        .await
        .unwrap();
    assert_eq!(reading.firing.len(), 1);
    assert_eq!(reading.firing[0].name, firing);
    assert_eq!(reading.firing[0].reason, "Threshold Crossed: 12 > 5");
    assert!(reading.missing.is_empty());
}

#[tokio::test]
async fn unknown_alarm_name_is_reported_missing() {
    let client = aws_sdk_cloudwatch::Client::new(&moto_config().await);
    let known = unique("known");
    put_alarm(&client, &known, None).await;
    let typo = unique("typo");
    let reading = CloudWatchAlarms::new(client)
        .check(&[known, typo.clone()], &[])
        .await
        .unwrap();
    assert_eq!(reading.missing, vec![typo]);
    assert!(reading.firing.is_empty());
}

#[tokio::test]
async fn prefix_finds_only_the_alarms_in_alarm() {
    let client = aws_sdk_cloudwatch::Client::new(&moto_config().await);
    let prefix = unique("prod");
    let a = format!("{prefix}-db-cpu");
    let b = format!("{prefix}-queue-depth");
    put_alarm(&client, &a, Some(("CPU 97%", StateValue::Alarm))).await;
    put_alarm(&client, &b, Some(("fine", StateValue::Ok))).await;
    put_alarm(
        &client,
        &unique("elsewhere"),
        Some(("other team", StateValue::Alarm)),
    )
    .await;

    let reading = CloudWatchAlarms::new(client)
        .check(&[], &[format!("{prefix}-")])
        .await
        .unwrap();
    let names: Vec<&str> = reading.firing.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, vec![a.as_str()]);
}

#[tokio::test]
async fn more_than_one_hundred_names_are_checked_in_batches() {
    let client = aws_sdk_cloudwatch::Client::new(&moto_config().await);
    let prefix = unique("batch");
    let names: Vec<String> = (0..105).map(|i| format!("{prefix}-{i:03}")).collect();
    for name in &names[..104] {
        put_alarm(&client, name, None).await;
    }
    put_alarm(
        &client,
        &names[104],
        Some(("late batch firing", StateValue::Alarm)),
    )
    .await;
    let reading = CloudWatchAlarms::new(client)
        .check(&names, &[])
        .await
        .unwrap();
    assert!(reading.missing.is_empty(), "{:?}", reading.missing);
    assert_eq!(reading.firing.len(), 1);
    assert_eq!(reading.firing[0].name, names[104]);
}
