// A small blocking HTTP/1.1 client for loopback benchmarks: one keep-alive connection, one request
// at a time. Enough for the batch loader and the detection-latency probe; nothing else.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace driftwatch::bench {

struct HttpResponse {
  int status = 0;  // 0: the connection failed
  std::string body;
};

class HttpConnection {
 public:
  // Connects to http://host:port on first use and again after the server closes.
  HttpConnection(std::string host, uint16_t port) : host_(std::move(host)), port_(port) {}
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  HttpResponse Get(std::string_view path) { return Send("GET", path, {}); }
  HttpResponse Post(std::string_view path, std::string_view body) {
    return Send("POST", path, body);
  }

 private:
  HttpResponse Send(std::string_view method, std::string_view path, std::string_view body);
  bool Connect();
  void Close();
  bool WriteAll(std::string_view bytes);
  bool ReadResponse(HttpResponse* out);

  std::string host_;
  uint16_t port_;
  int fd_ = -1;
  std::string buffer_;  // bytes read but not consumed yet
};

// Splits "http://HOST:PORT" (no path); false if it is not that.
bool ParseUrl(std::string_view url, std::string* host, uint16_t* port);

}  // namespace driftwatch::bench
