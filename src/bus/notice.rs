//! What the bus carries: ids and watermarks only, as compact JSON. The data itself (the
//! events, the messages) is read from the database by whoever acts on a notice.

use serde::{Deserialize, Serialize};

/// PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more; notices stay far below.
pub const MAX_PAYLOAD_BYTES: usize = 7_900;

/// Session ids per `SessionsRevoked` notice, which keeps its payload small.
pub const SESSIONS_PER_NOTICE: usize = 200;

/// One thing that happened, as every process hears of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Notice {
    /// A chat's log grew; `also` is someone who just left it or was removed.
    ChatChanged {
        chat_id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        also: Option<i64>,
    },
    /// A chat is gone: the sockets that had it hear of it.
    ChatDeleted { chat_id: i64 },
    /// A participant's read or delivered watermark moved.
    Receipt {
        chat_id: i64,
        user_id: i64,
        read_seq: i64,
        delivered_seq: i64,
    },
    /// Someone is typing in a chat.
    Typing { chat_id: i64, user_id: i64 },
    /// These sessions ended (sign-out, revocation, deactivation, password change).
    SessionsRevoked { session_ids: Vec<i64> },
    /// A member's role changed: what their sessions may do is read again.
    RoleChanged { user_id: i64 },
    /// A write changed what catalog reads answer.
    CatalogChanged {
        #[serde(default, skip_serializing_if = "CatalogChange::is_everything")]
        of: CatalogChange,
    },
    /// Someone came online or went offline.
    Presence { user_id: i64, online: bool },
    /// Notices may have been lost: re-read everything from the database.
    Resync,
}

/// Which catalog answers a write made stale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogChange {
    /// A watch was added: any list or search may now show it.
    Lists,
    /// One watch changed or went: its own answer, and any list or search.
    Watch(i64),
    /// What many watches show (a brand, a mechanism, a member's name), or not known.
    #[default]
    Everything,
}

impl CatalogChange {
    fn is_everything(&self) -> bool {
        *self == Self::Everything
    }
}

/// A notice with the process that published it, as it travels between processes.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The publishing process, which has acted on the notice already.
    #[serde(rename = "o")]
    pub origin: u64,
    #[serde(flatten)]
    pub notice: Notice,
}

impl Envelope {
    pub fn encode(&self) -> String {
        // a struct of integers, booleans and a tag: serializing cannot fail
        serde_json::to_string(self).unwrap_or_default()
    }

    /// `None` for a payload this version does not understand (a newer process may send
    /// notices an older one ignores).
    pub fn decode(payload: &str) -> Option<Self> {
        serde_json::from_str(payload).ok()
    }
}

/// Revoked sessions, split into notices of a bounded size.
pub fn sessions_revoked(session_ids: &[i64]) -> impl Iterator<Item = Notice> + '_ {
    session_ids
        .chunks(SESSIONS_PER_NOTICE)
        .map(|chunk| Notice::SessionsRevoked {
            session_ids: chunk.to_vec(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(notice: Notice) -> String {
        let envelope = Envelope {
            origin: u64::MAX,
            notice,
        };
        let payload = envelope.encode();
        assert_eq!(Envelope::decode(&payload).as_ref(), Some(&envelope));
        payload
    }

    #[test]
    fn every_notice_survives_encoding() {
        round_trip(Notice::ChatChanged {
            chat_id: 1,
            also: None,
        });
        round_trip(Notice::ChatChanged {
            chat_id: 1,
            also: Some(2),
        });
        round_trip(Notice::ChatDeleted { chat_id: 3 });
        round_trip(Notice::Receipt {
            chat_id: 4,
            user_id: 5,
            read_seq: 6,
            delivered_seq: 7,
        });
        round_trip(Notice::Typing {
            chat_id: 8,
            user_id: 9,
        });
        round_trip(Notice::SessionsRevoked {
            session_ids: vec![10, 11],
        });
        round_trip(Notice::Presence {
            user_id: 12,
            online: false,
        });
        round_trip(Notice::RoleChanged { user_id: 13 });
        round_trip(Notice::CatalogChanged {
            of: CatalogChange::Everything,
        });
        round_trip(Notice::CatalogChanged {
            of: CatalogChange::Lists,
        });
        round_trip(Notice::CatalogChanged {
            of: CatalogChange::Watch(14),
        });
        round_trip(Notice::Resync);
    }

    #[test]
    fn a_catalog_change_without_a_scope_is_a_change_of_everything() {
        let envelope = Envelope::decode(r#"{"o":1,"t":"catalog_changed"}"#);
        assert_eq!(
            envelope.map(|envelope| envelope.notice),
            Some(Notice::CatalogChanged {
                of: CatalogChange::Everything
            })
        );
        assert_eq!(
            round_trip(Notice::CatalogChanged {
                of: CatalogChange::Watch(7)
            }),
            format!(
                r#"{{"o":{},"t":"catalog_changed","of":{{"watch":7}}}}"#,
                u64::MAX
            )
        );
    }

    #[test]
    fn a_chat_change_is_a_few_dozen_bytes() {
        let payload = round_trip(Notice::ChatChanged {
            chat_id: i64::MAX,
            also: None,
        });
        assert_eq!(
            payload,
            format!(
                r#"{{"o":{},"t":"chat_changed","chat_id":{}}}"#,
                u64::MAX,
                i64::MAX
            )
        );
        assert!(payload.len() < 80, "{payload}");
    }

    #[test]
    fn revocations_are_split_below_the_notify_limit() {
        let many: Vec<i64> = (i64::MAX - 1000..i64::MAX).collect();
        let notices: Vec<Notice> = sessions_revoked(&many).collect();
        assert_eq!(notices.len(), 5);
        let mut seen = Vec::new();
        for notice in notices {
            let payload = round_trip(notice.clone());
            assert!(payload.len() < MAX_PAYLOAD_BYTES, "{} bytes", payload.len());
            if let Notice::SessionsRevoked { session_ids } = notice {
                seen.extend(session_ids);
            }
        }
        assert_eq!(seen, many);
    }

    #[test]
    fn unknown_or_broken_payloads_are_ignored() {
        assert_eq!(Envelope::decode(r#"{"o":1,"t":"from_the_future"}"#), None);
        assert_eq!(Envelope::decode(r#"{"t":"resync"}"#), None, "no origin");
        assert_eq!(Envelope::decode("not json"), None);
        assert_eq!(
            Envelope::decode(r#"{"o":1,"t":"typing","chat_id":2,"user_id":3,"extra":true}"#),
            Some(Envelope {
                origin: 1,
                notice: Notice::Typing {
                    chat_id: 2,
                    user_id: 3
                }
            }),
            "a field added later is ignored"
        );
    }
}
