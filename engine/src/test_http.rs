//! For tests: an HTTP server on loopback that answers one request.

use std::io::{BufRead, BufReader, Write};
use std::thread::JoinHandle;

/// Serve `response` (status line, headers and body, as sent) to the first
/// connection on a free loopback port. Returns the `HOST:PORT` and a handle
/// whose join gives the request's head (request line and headers).
pub fn answer_once(response: String) -> (String, JoinHandle<String>) {
    let (addr, server) = answer_each(vec![response]);
    (addr, std::thread::spawn(move || server.join().unwrap().remove(0)))
}

/// Serve `responses` in order, one request per connection (each response
/// should say `Connection: close`). The handle's join gives the requests'
/// heads.
pub fn answer_each(responses: Vec<String>) -> (String, JoinHandle<Vec<String>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for response in responses {
            let (mut conn, _) = listener.accept().unwrap();
            // Read the whole request: closing with unread bytes resets the
            // connection before the client reads the answer.
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let (mut request, mut line) = (String::new(), String::new());
            while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                request.push_str(&line);
                line.clear();
            }
            conn.write_all(response.as_bytes()).unwrap();
            requests.push(request);
        }
        requests
    });
    (addr, server)
}
