using System.Text.Json;
using System.Text.Json.Serialization;

namespace Dtx.Shared.Business;

/// <summary>What a client asks for with <c>POST /orders</c>. The client chooses <see cref="OrderId"/>, so a retry is safe.</summary>
public sealed record PlaceOrder(string OrderId, string Sku, int Qty, string CustomerId)
{
    /// <summary>Returns null when the order is well formed, otherwise one line saying what is wrong.</summary>
    public string? Validate() =>
        string.IsNullOrWhiteSpace(OrderId) ? "orderId is required" :
        OrderId.Length > 100 ? "orderId is longer than 100 characters" :
        string.IsNullOrWhiteSpace(Sku) ? "sku is required" :
        string.IsNullOrWhiteSpace(CustomerId) ? "customerId is required" :
        Qty <= 0 ? "qty must be a positive whole number" : null;
}

/// <summary>The participant's decision about an order.</summary>
public enum Outcome { Created, Rejected }

/// <summary>The participant's answer to the initiator.</summary>
public sealed record OrderReply(string OrderId, Outcome Outcome);

/// <summary>One JSON shape for every message body and HTTP payload, so both implementations speak alike.</summary>
public static class Json
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public static byte[] Serialize<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    public static T Deserialize<T>(ReadOnlySpan<byte> utf8) =>
        JsonSerializer.Deserialize<T>(utf8, Options) ?? throw new JsonException($"empty {typeof(T).Name}");

    public static T Deserialize<T>(string text) =>
        JsonSerializer.Deserialize<T>(text, Options) ?? throw new JsonException($"empty {typeof(T).Name}");
}
