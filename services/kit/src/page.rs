//! Pagination (AIP-158): `page_size` clamped, `page_token` an opaque offset or key.

use base64::Engine as _;
use tonic::Status;

use crate::error::invalid_argument;

/// Default page size when the request leaves it 0.
pub const DEFAULT_PAGE_SIZE: u64 = 100;

/// A validated page request: how many, and after which key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows to return.
    pub size: u64,
    /// The key after which this page starts (empty for the first page).
    pub after: String,
}

impl PageRequest {
    /// Validates `page_size` (0 = default, negative or above `max` refused) and decodes the token.
    pub fn parse(page_size: i32, page_token: &str, max: u64) -> Result<Self, Status> {
        if page_size < 0 {
            return Err(invalid_argument("page_size", "must not be negative"));
        }
        let size = match page_size as u64 {
            0 => DEFAULT_PAGE_SIZE.min(max),
            n if n > max => {
                return Err(invalid_argument(
                    "page_size",
                    format!("must be at most {max}"),
                ));
            }
            n => n,
        };
        let after = if page_token.is_empty() {
            String::new()
        } else {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(page_token)
                .map_err(|_| {
                    invalid_argument("page_token", "not a token from a previous response")
                })?;
            String::from_utf8(bytes).map_err(|_| {
                invalid_argument("page_token", "not a token from a previous response")
            })?
        };
        Ok(Self { size, after })
    }
}

/// The token for the page after the row with key `last_key`.
pub fn next_token(last_key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last_key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_sizes_are_clamped() {
        let p = PageRequest::parse(0, "", 500).unwrap();
        assert_eq!(
            p,
            PageRequest {
                size: 100,
                after: String::new()
            }
        );
        let p = PageRequest::parse(20, &next_token("cust-42"), 500).unwrap();
        assert_eq!(p.after, "cust-42");
        assert_eq!(
            PageRequest::parse(501, "", 500).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            PageRequest::parse(-1, "", 500).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            PageRequest::parse(10, "%%%", 500).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }
}
