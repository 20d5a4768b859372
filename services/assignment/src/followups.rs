//! Follow-up counts for a manager's stats, asked of profile (which keeps the follow-ups)
//! with the caller's own token, so profile applies the caller's scope as well. Stats stay
//! available when profile is not: the counts are then reported as unknown.

use std::time::Duration;

use maitre_kit::client::{lazy_channel, outgoing};
use maitre_proto::profile::v1::{
    SummarizeFollowUpsRequest, SummarizeFollowUpsResponse,
    profile_service_client::ProfileServiceClient,
};

/// How long stats wait for profile.
const WAIT: Duration = Duration::from_secs(2);

/// The manager's follow-up counts for the period, or `None` when profile did not answer.
pub async fn summary(
    profile_url: &str,
    token: &str,
    manager_id: &str,
    period_start: prost_types::Timestamp,
    period_end: prost_types::Timestamp,
) -> Option<SummarizeFollowUpsResponse> {
    let channel = lazy_channel(profile_url).ok()?;
    let request = SummarizeFollowUpsRequest {
        manager_id: manager_id.to_owned(),
        period_start: Some(period_start),
        period_end: Some(period_end),
    };
    let mut client = ProfileServiceClient::new(channel);
    let call = client.summarize_follow_ups(outgoing(request, token));
    match tokio::time::timeout(WAIT, call).await {
        Ok(Ok(response)) => Some(response.into_inner()),
        Ok(Err(status)) => {
            tracing::warn!(%status, "follow-up counts unavailable from profile");
            None
        }
        Err(_) => {
            tracing::warn!("follow-up counts: profile did not answer in time");
            None
        }
    }
}
