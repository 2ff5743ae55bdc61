//! The health probe's response reader, a pure function of the bytes
//! received so far, so the fuzzer (fuzz/, which includes this file by path)
//! and the property tests can drive it without a socket.

/// A response larger than this without a complete head is not a health
/// endpoint worth waiting for.
pub const MAX_HEAD: usize = 16 * 1024;

/// The status of the final response at the start of `received`; `Ok(None)`
/// while more bytes are needed. Interim responses (`100 Continue`, `103
/// Early Hints`, any 1xx) are skipped, as HTTP clients must.
pub fn final_status(received: &[u8]) -> Result<Option<u16>, String> {
    let mut at = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let result = response.parse(received.get(at..).unwrap_or_default());
        let interim = response.code.is_some_and(|code| (100..200).contains(&code));
        match result {
            Ok(httparse::Status::Complete(length)) if interim && length > 0 => at += length,
            // The status is known even when the headers overflow our table,
            // but where an interim response ends is not.
            Ok(httparse::Status::Complete(_)) | Err(httparse::Error::TooManyHeaders)
                if !interim =>
            {
                return response
                    .code
                    .map(Some)
                    .ok_or_else(|| "response without a status".into())
            }
            Err(httparse::Error::TooManyHeaders) | Ok(httparse::Status::Complete(_)) => {
                return Err("interim response with too many headers".into())
            }
            Err(e) => return Err(format!("not an HTTP response: {e}")),
            Ok(httparse::Status::Partial) if received.len() > MAX_HEAD => {
                return Err("response headers too large".into())
            }
            Ok(httparse::Status::Partial) => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn interim_responses_are_skipped() {
        let cases: [(&[u8], Result<_, ()>); 7] = [
            (b"HTTP/1.1 200 OK\r\n\r\n", Ok(Some(200u16))),
            (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", Ok(Some(204))),
            (b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 503 x\r\n\r\n", Ok(Some(503))),
            (b"HTTP/1.1 100 Continue\r\n\r\n", Ok(None)),
            (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2", Ok(None)),
            (b"HTTP/1.1 20", Ok(None)),
            (b"SSH-2.0-OpenSSH\r\n", Err(())),
        ];
        for (bytes, want) in cases {
            let got = final_status(bytes).map_err(|_| ());
            assert_eq!(got, want, "{}", String::from_utf8_lossy(bytes));
        }
        let endless_continue = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(1000);
        assert!(final_status(&endless_continue).is_err());
    }

    fn response(codes: std::ops::Range<u16>) -> impl Strategy<Value = Vec<u8>> {
        (
            codes,
            prop::collection::vec(("[A-Za-z-]{1,8}", "[ -~]{0,12}"), 0..4),
        )
            .prop_map(|(code, headers)| {
                let mut text = format!("HTTP/1.1 {code} Reason\r\n");
                for (name, value) in headers {
                    text.push_str(&format!("{name}: {value}\r\n"));
                }
                text.push_str("\r\n");
                text.into_bytes()
            })
    }

    proptest! {
        /// Whatever a server sends: a status, "more", or one line of error.
        #[test]
        fn any_bytes_give_a_value_or_one_line(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            if let Err(why) = final_status(&bytes) {
                prop_assert!(!why.contains('\n'), "{why}");
            }
        }

        /// Interim responses then a final one, received in two parts: the
        /// first part never gives another status, the whole gives the final.
        #[test]
        fn interim_then_final_in_any_split(
            interim in prop::collection::vec(response(100..200), 0..4),
            last in response(200..600),
            cut in any::<prop::sample::Index>(),
        ) {
            let code: u16 = String::from_utf8_lossy(&last[9..12]).parse().unwrap();
            let mut bytes: Vec<u8> = interim.concat();
            bytes.extend_from_slice(&last);
            let whole = final_status(&bytes);
            prop_assert_eq!(&whole, &Ok(Some(code)));
            let part = final_status(&bytes[..cut.index(bytes.len())]);
            prop_assert!(part == Ok(None) || part == whole, "{:?}", part);
        }
    }
}
