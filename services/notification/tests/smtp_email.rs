//! The SMTP provider against a local fake SMTP server (plain connection, `tls = none`: the
//! STARTTLS and implicit-TLS paths are lettre's, left for a live-account check) that speaks the
//! submission dialogue of RFC 5321 / RFC 4954 (EHLO, AUTH PLAIN, MAIL FROM, RCPT TO, DATA) and
//! records what arrives: the guest's rendered subject and body reach it, once, from the chain's
//! address, after authenticating with the chain's credentials; a 550 for the recipient is a
//! permanent failure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use maitre_notification::domain::channel::Channel;
use maitre_notification::domain::smtp_settings::SmtpTls;
use maitre_notification::providers::smtp_email::{SmtpAccount, SmtpEmail};
use maitre_notification::providers::{OutboundMessage, Provider, ProviderError};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One accepted message: `(auth, mail from, rcpt to, data)`.
type Received = (String, String, Vec<String>, String);

#[derive(Default)]
struct Fake {
    received: Mutex<Vec<Received>>,
    /// Recipients the fake answers 550 for.
    unknown: Mutex<Vec<String>>,
}

async fn session(fake: Arc<Fake>, stream: tokio::net::TcpStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 fake.smtp ESMTP\r\n").await?;
    let (mut auth, mut from, mut to) = (String::new(), String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-fake.smtp\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("AUTH PLAIN ") {
            auth = command["AUTH PLAIN ".len()..].to_owned();
            b"235 2.7.0 Authentication successful\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = command["MAIL FROM:".len()..].to_owned();
            b"250 2.1.0 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = command["RCPT TO:".len()..].to_owned();
            if fake.unknown.lock().expect("lock").contains(&rcpt) {
                b"550 5.1.1 No such user\r\n"
            } else {
                to.push(rcpt);
                b"250 2.1.5 OK\r\n"
            }
        } else if upper == "DATA" {
            write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            fake.received.lock().expect("lock").push((
                auth.clone(),
                std::mem::take(&mut from),
                std::mem::take(&mut to),
                data,
            ));
            b"250 2.0.0 Ok: queued as FAKE1\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(());
        } else {
            // RSET, NOOP: nothing to keep.
            b"250 OK\r\n"
        };
        write.write_all(reply).await?;
    }
}

async fn start_fake() -> (Arc<Fake>, u16) {
    let fake = Arc::new(Fake::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = fake.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(session(server.clone(), stream));
        }
    });
    (fake, port)
}

fn greeting(to: &str) -> OutboundMessage {
    OutboundMessage {
        chain_id: "chain-1".into(),
        message_id: "msg-mail-1".into(),
        customer_id: "g1".into(),
        staff_id: "wang".into(),
        channel: Channel::Email,
        subject: Some("李女士，生日快乐".into()),
        body: "海港酒家为您准备了杨枝甘露，凭券 DESSERT-2026 享用。".into(),
        campaign_id: String::new(),
        automation_id: "birthday_dessert_greeting".into(),
        recipient: to.into(),
        parameters: Vec::new(),
        provider_template_id: String::new(),
        sign_name: String::new(),
    }
}

/// The value of `name` in `data`'s headers, RFC 2047 encoded words decoded (lettre encodes a
/// non-ASCII subject as `=?utf-8?b?…?=` words, folded over lines).
fn header(data: &str, name: &str) -> String {
    let head = data.split("\r\n\r\n").next().unwrap_or_default();
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let raw = unfolded
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_default()
        .to_owned();
    let mut decoded = String::new();
    for word in raw.split_whitespace() {
        let lower = word.to_ascii_lowercase();
        if lower.starts_with("=?utf-8?b?") && word.ends_with("?=") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&word[10..word.len() - 2])
                .expect("base64 word");
            decoded.push_str(&String::from_utf8(bytes).expect("utf-8"));
        } else {
            if !decoded.is_empty() {
                decoded.push(' ');
            }
            decoded.push_str(word);
        }
    }
    decoded
}

fn body(data: &str) -> String {
    let encoded: String = data
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64 body"),
    )
    .expect("utf-8")
}

#[tokio::test]
async fn the_guests_greeting_arrives_once_with_subject_and_body() {
    let (fake, port) = start_fake().await;
    let smtp = SmtpEmail::new(
        SmtpAccount {
            host: "127.0.0.1".into(),
            port,
            tls: SmtpTls::None,
            username: "crm@harbour.example".into(),
            password: "mail-password".into(),
            from: "海港酒家 <crm@harbour.example>".into(),
        },
        Duration::from_secs(5),
    )
    .expect("smtp");
    let id = smtp
        .send(&greeting("li@guest.example"))
        .await
        .expect("sent");
    assert!(id.contains("queued as FAKE1"), "{id}");

    let received = fake.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 1, "sent once");
    let (auth, from, to, data) = &received[0];
    // AUTH PLAIN: base64 of "\0user\0password" (RFC 4616).
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(auth)
            .expect("auth"),
        b"\0crm@harbour.example\0mail-password"
    );
    assert!(from.starts_with("<crm@harbour.example>"), "{from}");
    assert_eq!(to, &vec!["<li@guest.example>".to_owned()]);
    assert_eq!(header(data, "Subject"), "李女士，生日快乐");
    assert_eq!(header(data, "Message-ID"), "<msg-mail-1@maitre>");
    assert!(
        header(data, "From").contains("crm@harbour.example"),
        "{data}"
    );
    assert_eq!(
        body(data),
        "海港酒家为您准备了杨枝甘露，凭券 DESSERT-2026 享用。"
    );

    // A recipient the server refuses (550) is a permanent failure; an address that is not one
    // never reaches the server.
    fake.unknown
        .lock()
        .expect("lock")
        .push("<gone@guest.example>".into());
    assert!(matches!(
        smtp.send(&greeting("gone@guest.example")).await,
        Err(ProviderError::Permanent { .. })
    ));
    assert!(matches!(
        smtp.send(&greeting("not an address")).await,
        Err(ProviderError::Permanent { .. })
    ));
    assert_eq!(fake.received.lock().expect("lock").len(), 1);
}
