using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Dtx.Harness.Proxy;

/// <summary>
/// Reading request bodies the way Go's <c>json.Decoder</c> does (first value only, keys matched case-insensitively,
/// wrong types are errors) and writing compact JSON in a fixed field order, as <c>json.Marshal</c> does.
/// </summary>
internal static class Json
{
    /// <summary>The first JSON value of the body; an empty body is Go's "EOF".</summary>
    public static JsonElement Parse(ReadOnlyMemory<byte> body)
    {
        if (body.Span.Trim(" \t\r\n"u8).IsEmpty) throw ApiException.BadRequestBody("EOF");
        try
        {
            var reader = new Utf8JsonReader(body.Span);
            using var document = JsonDocument.ParseValue(ref reader);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequestBody(e.Message);
        }
    }

    /// <summary>A property by exact name, else case-insensitively (Go's field matching).</summary>
    public static bool TryGet(JsonElement obj, string name, out JsonElement value)
    {
        if (obj.TryGetProperty(name, out value)) return true;
        foreach (var property in obj.EnumerateObject())
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                value = property.Value;
                return true;
            }
        }
        return false;
    }

    public static string? OptionalString(JsonElement obj, string name, string goType)
    {
        if (!TryGet(obj, name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.String) throw WrongType(value, goType, name, "string");
        return value.GetString();
    }

    public static bool? OptionalBool(JsonElement obj, string name, string goType)
    {
        if (!TryGet(obj, name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType(value, goType, name, "bool"),
        };
    }

    public static float? OptionalFloat(JsonElement obj, string name, string goType)
    {
        if (!TryGet(obj, name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetSingle(out float result)) throw WrongType(value, goType, name, "float32");
        return result;
    }

    private static ApiException WrongType(JsonElement value, string goType, string field, string expected) =>
        ApiException.BadRequestBody($"json: cannot unmarshal {Toxic.GoKind(value)} into Go struct field {goType}.{field} of type {expected}");

    /// <summary>Compact UTF-8 JSON written by <paramref name="write"/>.</summary>
    public static byte[] Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer)) write(writer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary><c>{"error":"…","status":N}</c>, the body of every API error.</summary>
    public static byte[] Error(ApiException error) => Write(w =>
    {
        w.WriteStartObject();
        w.WriteString("error", error.Message);
        w.WriteNumber("status", error.Status);
        w.WriteEndObject();
    });

    public static string Text(byte[] utf8) => Encoding.UTF8.GetString(utf8);
}
