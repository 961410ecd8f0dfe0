//! The mail example's services, checked as a mail user meets them: a few
//! lines of SMTP and IMAP, and a page over HTTP. Addresses are a lab
//! host's, or a tunnel's end on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

struct Line(BufReader<TcpStream>);

impl Line {
    fn connect(addr: &str) -> Line {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Line(BufReader::new(s))
    }
    fn send(&mut self, text: &str) {
        self.0.get_mut().write_all(text.as_bytes()).unwrap();
    }
    fn line(&mut self) -> String {
        let mut l = String::new();
        self.0.read_line(&mut l).unwrap();
        assert!(!l.is_empty(), "connection closed");
        l
    }
    /// SMTP: read a (multi-line) reply, check its code.
    fn reply(&mut self, code: &str) -> String {
        let mut all = String::new();
        loop {
            let l = self.line();
            all.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                break;
            }
        }
        assert!(all.starts_with(code), "expected {code}, got {all:?}");
        all
    }
    /// IMAP: everything up to the tagged reply, which must be OK.
    fn tagged(&mut self, tag: &str) -> String {
        let mut all = String::new();
        loop {
            let l = self.line();
            all.push_str(&l);
            if l.starts_with(&format!("{tag} ")) {
                assert!(l.starts_with(&format!("{tag} OK")), "{all}");
                return all;
            }
        }
    }
}

pub fn send_mail(addr: &str, to: &str, token: &str) {
    wait_greeting(addr);
    let mut s = Line::connect(addr);
    s.reply("220");
    s.send("EHLO test.example\r\n");
    s.reply("250");
    s.send("MAIL FROM:<tester@outside.example>\r\n");
    s.reply("250");
    s.send(&format!("RCPT TO:<{to}>\r\n"));
    s.reply("250");
    s.send("DATA\r\n");
    s.reply("354");
    s.send(&format!("Subject: {token}\r\n\r\nbody {token}\r\n.\r\n"));
    s.reply("250");
    s.send("QUIT\r\n");
}

/// Wait until something listens on `addr` (a container that runs is not
/// yet a server that answers: the mail image configures exim first).
pub fn wait_listening(addr: &str) {
    let t = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(t.elapsed() < Duration::from_secs(60), "nothing listens on {addr} after 60 s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The INBOX of `user` over IMAP, whole.
pub fn read_inbox(addr: &str, user: &str, password: &str) -> String {
    wait_greeting(addr);
    let mut s = Line::connect(addr);
    assert!(s.line().starts_with("* OK"));
    s.send(&format!("a1 LOGIN {user} {password}\r\n"));
    s.tagged("a1");
    s.send("a2 SELECT INBOX\r\n");
    let selected = s.tagged("a2");
    let mut text = String::new();
    if !selected.contains("* 0 EXISTS") {
        s.send("a3 FETCH 1:* (BODY[])\r\n");
        text = s.tagged("a3");
    }
    s.send("a4 LOGOUT\r\n");
    text
}

pub fn wait_for_mail(addr: &str, token: &str) -> Duration {
    let t = Instant::now();
    loop {
        if read_inbox(addr, "alice", "alice").contains(&format!("body {token}")) {
            return t.elapsed();
        }
        assert!(t.elapsed() < Duration::from_secs(60), "mail {token} never reached alice's INBOX");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Wait until a server at `addr` sends its first line (SMTP's and IMAP's
/// greeting). Through an ssh tunnel a connection opens even when nothing
/// listens at the far end yet, so waiting for a port is not enough there.
pub fn wait_greeting(addr: &str) {
    let t = Instant::now();
    loop {
        if let Ok(s) = TcpStream::connect(addr) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut first = String::new();
            if BufReader::new(s).read_line(&mut first).is_ok_and(|n| n > 0) {
                return;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no greeting from {addr} after 60 s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// [`http_get_path`] until an answer comes (see [`wait_greeting`]).
pub fn wait_http(addr: &str, path: &str) -> String {
    let t = Instant::now();
    loop {
        let answer = http_get_path(addr, path);
        if !answer.is_empty() {
            return answer;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no HTTP answer from {addr}{path} after 60 s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `GET /` over HTTP/1.0: the whole response, headers included.
pub fn http_get(addr: &str) -> String {
    http_get_path(addr, "/")
}

/// `GET PATH` over HTTP/1.0: the whole response, headers included.
pub fn http_get_path(addr: &str, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(addr) else { return String::new() };
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: webmail\r\n\r\n").as_bytes()).is_err() {
        return String::new();
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}
