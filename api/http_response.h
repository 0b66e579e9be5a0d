// Turns a Reply into the bytes of an HTTP/1.1 answer: status line, the headers every answer
// carries (Date, Content-Type, Content-Length, Connection, X-Content-Type-Options) and those the
// reply asks for (Retry-After, WWW-Authenticate, Allow, Location, Cache-Control, a
// Content-Security-Policy: the reply's own, or the /docs one for HTML).
#pragma once

#include <string>
#include <string_view>

#include "api/router.h"

namespace driftwatch::api {

struct AnswerShape {
  bool keep_alive = true;  // "Connection: keep-alive", else "Connection: close"
  bool head = false;       // answering HEAD: the headers of the GET answer, no body
};

// Appends the answer to *out.
void WriteAnswer(const Reply& reply, const AnswerShape& shape, std::string* out);

// "Not Found" for 404; "" for a status it does not know.
std::string_view ReasonPhrase(int status);

// The current time as an HTTP date (RFC 9110 5.6.7), "Sun, 06 Nov 1994 08:49:37 GMT": made once a
// second per thread.
std::string_view HttpDateNow();

}  // namespace driftwatch::api
