namespace Dtx.Harness.Proxy;

/// <summary>
/// An error the API reports as <c>{"error":"…","status":N}</c>, with Toxiproxy's messages and codes
/// (<c>api.go</c>: <c>ErrBadRequestBody</c>, <c>ErrProxyNotFound</c>, …). Anything else that escapes a
/// handler is reported as a 500 with the exception's message, as Toxiproxy does for plain Go errors.
/// </summary>
internal sealed class ApiException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    public static ApiException BadRequestBody(string detail) => new(400, "bad request body: " + detail);
    public static ApiException MissingField(string field) => new(400, "missing required field: " + field);
    public static ApiException ProxyNotFound() => new(404, "proxy not found");
    public static ApiException ProxyAlreadyExists() => new(409, "proxy already exists");
    public static ApiException InvalidStream() => new(400, "stream was invalid, can be either upstream or downstream");
    public static ApiException InvalidToxicType() => new(400, "invalid toxic type");
    public static ApiException ToxicAlreadyExists() => new(409, "toxic already exists");
    public static ApiException ToxicNotFound() => new(404, "toxic not found");
}
