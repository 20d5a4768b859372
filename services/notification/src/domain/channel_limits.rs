//! Per-channel size limits of rendered messages and SMS segment counting.
//!
//! SMS in mainland China is billed per segment: a message of at most 70 characters (Chinese, Latin and
//! punctuation all count as one) is one segment; a longer one is split into 67-character segments because
//! each part carries a 3-character concatenation header (carrier rule as published by Chinese SMS
//! providers, e.g. Alibaba Cloud SMS "短信计费规则"). The chain's 【signature】 counts towards the length.

use super::channel::Channel;
use super::error::TemplateError;

/// Characters in a single-segment SMS.
pub const SMS_SINGLE_SEGMENT_CHARS: usize = 70;
/// Characters per segment once an SMS is split.
pub const SMS_MULTIPART_SEGMENT_CHARS: usize = 67;

/// Configurable limits; [`ChannelLimits::default`] holds the shipped values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelLimits {
    /// Length of the chain's SMS signature such as "【味道餐厅】", prepended by the provider.
    pub sms_signature_chars: usize,
    /// Most segments one SMS may cost; longer texts are rejected rather than silently billed.
    pub sms_max_segments: u32,
    /// WeChat template/subscribe message field budget.
    pub wechat_max_chars: usize,
    /// RFC 5322 §2.1.1 recommends lines of at most 78 characters; a subject is one header line.
    pub email_subject_max_chars: usize,
    pub email_body_max_chars: usize,
    /// Push titles/bodies beyond these are truncated by phone launchers.
    pub app_push_title_max_chars: usize,
    pub app_push_body_max_chars: usize,
    pub staff_inbox_title_max_chars: usize,
    pub staff_inbox_body_max_chars: usize,
}

impl Default for ChannelLimits {
    fn default() -> Self {
        Self {
            sms_signature_chars: 0,
            sms_max_segments: 5,
            wechat_max_chars: 200,
            email_subject_max_chars: 78,
            email_body_max_chars: 100_000,
            app_push_title_max_chars: 50,
            app_push_body_max_chars: 200,
            staff_inbox_title_max_chars: 100,
            staff_inbox_body_max_chars: 2000,
        }
    }
}

/// The measured size of a rendered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSize {
    /// Body length in characters (for SMS including the signature).
    pub body_chars: usize,
    /// Billed segments; `Some` only for SMS.
    pub sms_segments: Option<u32>,
}

/// Segments an SMS of `chars` characters (signature included) costs; an empty text costs nothing.
pub fn sms_segments(chars: usize) -> u32 {
    let segments = match chars {
        0 => 0,
        n if n <= SMS_SINGLE_SEGMENT_CHARS => 1,
        n => n.div_ceil(SMS_MULTIPART_SEGMENT_CHARS),
    };
    u32::try_from(segments).unwrap_or(u32::MAX)
}

/// Checks a rendered subject and body against the channel's limits and measures the body.
pub fn check_rendered_size(
    channel: Channel,
    subject: Option<&str>,
    body: &str,
    limits: &ChannelLimits,
) -> Result<MessageSize, TemplateError> {
    let body_chars = body.chars().count();
    let too_long = |field: &'static str, chars: usize, max_chars: usize| {
        if chars > max_chars {
            Err(TemplateError::RenderedTooLong {
                channel,
                field,
                chars,
                max_chars,
            })
        } else {
            Ok(())
        }
    };
    let subject_chars = subject.map_or(0, |subject| subject.chars().count());
    match channel {
        Channel::Sms => {
            let total_chars = body_chars.saturating_add(limits.sms_signature_chars);
            let segments = sms_segments(total_chars);
            if segments > limits.sms_max_segments {
                return Err(TemplateError::TooManySmsSegments {
                    segments,
                    max_segments: limits.sms_max_segments,
                });
            }
            return Ok(MessageSize {
                body_chars: total_chars,
                sms_segments: Some(segments),
            });
        }
        Channel::Wechat => too_long("body", body_chars, limits.wechat_max_chars)?,
        Channel::Email => {
            too_long("subject", subject_chars, limits.email_subject_max_chars)?;
            too_long("body", body_chars, limits.email_body_max_chars)?;
        }
        Channel::AppPush => {
            too_long("subject", subject_chars, limits.app_push_title_max_chars)?;
            too_long("body", body_chars, limits.app_push_body_max_chars)?;
        }
        Channel::StaffInbox => {
            too_long("subject", subject_chars, limits.staff_inbox_title_max_chars)?;
            too_long("body", body_chars, limits.staff_inbox_body_max_chars)?;
        }
    }
    Ok(MessageSize {
        body_chars,
        sms_segments: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_segment_boundaries() {
        assert_eq!(sms_segments(0), 0);
        assert_eq!(sms_segments(1), 1);
        assert_eq!(sms_segments(70), 1);
        assert_eq!(sms_segments(71), 2);
        assert_eq!(sms_segments(134), 2);
        assert_eq!(sms_segments(135), 3);
    }

    #[test]
    fn chinese_characters_count_once_each() {
        let body = "生".repeat(70);
        let size = check_rendered_size(Channel::Sms, None, &body, &ChannelLimits::default());
        assert_eq!(
            size,
            Ok(MessageSize {
                body_chars: 70,
                sms_segments: Some(1)
            })
        );
    }

    #[test]
    fn sms_signature_counts_towards_segments() {
        let limits = ChannelLimits {
            sms_signature_chars: 6,
            ..ChannelLimits::default()
        };
        let size = check_rendered_size(Channel::Sms, None, &"好".repeat(65), &limits);
        assert_eq!(
            size,
            Ok(MessageSize {
                body_chars: 71,
                sms_segments: Some(2)
            })
        );
    }

    #[test]
    fn sms_over_max_segments_is_rejected() {
        let limits = ChannelLimits {
            sms_max_segments: 2,
            ..ChannelLimits::default()
        };
        let result = check_rendered_size(Channel::Sms, None, &"a".repeat(135), &limits);
        assert_eq!(
            result,
            Err(TemplateError::TooManySmsSegments {
                segments: 3,
                max_segments: 2
            })
        );
    }

    #[test]
    fn email_subject_over_limit_names_the_field() {
        let subject = "s".repeat(79);
        let result = check_rendered_size(
            Channel::Email,
            Some(&subject),
            "body",
            &ChannelLimits::default(),
        );
        assert_eq!(
            result,
            Err(TemplateError::RenderedTooLong {
                channel: Channel::Email,
                field: "subject",
                chars: 79,
                max_chars: 78
            })
        );
    }

    #[test]
    fn push_body_within_limit_has_no_segments() {
        let result = check_rendered_size(
            Channel::AppPush,
            Some("生日快乐"),
            "祝您生日快乐",
            &ChannelLimits::default(),
        );
        assert_eq!(
            result,
            Ok(MessageSize {
                body_chars: 6,
                sms_segments: None
            })
        );
    }
}
