//! Where a guest is reached on each channel, as profile's `CustomerUpdated.contacts` told, and
//! which address a message on a channel goes to ([`recipient`]). Personal data: kept with the
//! guest's facts, erased with them, and never printed (`Debug` shows only which are known).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::channel::Channel;

/// One openid with the WeChat app that issued it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WechatOpenid {
    pub appid: String,
    pub openid: String,
}

/// How a guest is reached.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Contacts {
    /// E.164, e.g. `+8613800138000`.
    pub phone_e164: String,
    pub wechat_openids: Vec<WechatOpenid>,
    pub wecom_external_userid: String,
    pub email: String,
}

impl fmt::Debug for Contacts {
    // Logs must never carry a phone number or address: only which contacts are known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contacts")
            .field("phone", &!self.phone_e164.is_empty())
            .field("wechat_openids", &self.wechat_openids.len())
            .field("wecom", &!self.wecom_external_userid.is_empty())
            .field("email", &!self.email.is_empty())
            .finish()
    }
}

/// The guest's address for a message on `channel`, empty when the guest has none there (the
/// provider refuses such a message; a staff message goes to its staff member's id):
/// SMS → the phone in E.164; WeChat → every WeChat address of the guest, comma-separated:
/// `<appid>:<openid>` per app the guest used, then `wecom:<external_userid>` when the guest is a
/// manager's WeCom external contact (each WeChat provider picks its own: [`wechat_address`]);
/// e-mail → the address.
pub fn recipient(channel: Channel, contacts: &Contacts) -> String {
    match channel {
        Channel::Sms => contacts.phone_e164.clone(),
        Channel::Wechat => contacts
            .wechat_openids
            .iter()
            .filter(|o| !o.appid.is_empty() && !o.openid.is_empty())
            .map(|o| format!("{}:{}", o.appid, o.openid))
            .chain(
                (!contacts.wecom_external_userid.is_empty())
                    .then(|| format!("{WECOM_PREFIX}:{}", contacts.wecom_external_userid)),
            )
            .collect::<Vec<_>>()
            .join(","),
        Channel::Email => contacts.email.clone(),
        Channel::AppPush | Channel::StaffInbox => String::new(),
    }
}

/// The app id under which a WeCom external userid travels in a WeChat recipient.
pub const WECOM_PREFIX: &str = "wecom";

/// The guest's id with `app` (an appid, or [`WECOM_PREFIX`]) in a WeChat recipient, if any.
pub fn wechat_address<'a>(recipient: &'a str, app: &str) -> Option<&'a str> {
    recipient
        .split(',')
        .filter_map(|entry| entry.split_once(':'))
        .find(|(appid, id)| *appid == app && !id.is_empty())
        .map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contacts() -> Contacts {
        Contacts {
            phone_e164: "+8613800138000".into(),
            wechat_openids: vec![WechatOpenid {
                appid: "wx1".into(),
                openid: "o-1".into(),
            }],
            wecom_external_userid: "wmX".into(),
            email: "li@example.com".into(),
        }
    }

    #[test]
    fn each_channel_takes_its_own_address() {
        let c = contacts();
        assert_eq!(recipient(Channel::Sms, &c), "+8613800138000");
        assert_eq!(recipient(Channel::Wechat, &c), "wx1:o-1,wecom:wmX");
        assert_eq!(recipient(Channel::Email, &c), "li@example.com");
        assert_eq!(recipient(Channel::StaffInbox, &c), "");
        assert_eq!(recipient(Channel::Sms, &Contacts::default()), "");
        assert_eq!(recipient(Channel::Wechat, &Contacts::default()), "");
    }

    #[test]
    fn each_wechat_provider_finds_its_own_address() {
        let mut c = contacts();
        c.wechat_openids.push(WechatOpenid {
            appid: "wx2".into(),
            openid: "o-2".into(),
        });
        let to = recipient(Channel::Wechat, &c);
        assert_eq!(wechat_address(&to, "wx2"), Some("o-2"));
        assert_eq!(wechat_address(&to, "wx1"), Some("o-1"));
        assert_eq!(wechat_address(&to, WECOM_PREFIX), Some("wmX"));
        assert_eq!(wechat_address(&to, "wx3"), None);
        assert_eq!(wechat_address("", "wx1"), None);
    }

    #[test]
    fn debug_never_shows_an_address() {
        let shown = format!("{:?}", contacts());
        assert!(!shown.contains("138"), "{shown}");
        assert!(!shown.contains("example"), "{shown}");
        assert!(!shown.contains("o-1"), "{shown}");
    }
}
