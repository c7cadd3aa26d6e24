using System.Text.Json;

namespace Dtx.Harness.Proxy;

/// <summary>
/// A toxic's behaviour and attributes. Every Toxiproxy toxic has only integer attributes (Go <c>int64</c>/<c>int</c>),
/// so a toxic is a named list of longs plus a <see cref="PipeAsync"/> loop. Instances are treated as immutable once
/// running: an update works on a <see cref="Clone"/> and swaps it in, as <c>UpdateToxicJson</c> does with <c>copyToxic</c>.
/// </summary>
internal abstract class Toxic
{
    private readonly string[] _names;
    private long[] _values;

    protected Toxic(params string[] attributeNames)
    {
        _names = attributeNames;
        _values = new long[attributeNames.Length];
    }

    public abstract string Type { get; }

    /// <summary>How many chunks may queue in front of the toxic (Toxiproxy's <c>BufferedToxic</c>); 0 = hand-to-hand.</summary>
    public virtual int BufferSize => 0;

    /// <summary>Fresh per-connection state (<c>StatefulToxic.NewState</c>), or null.</summary>
    public virtual object? NewState() => null;

    /// <summary>Whether removing the toxic closes the connections it affects (<c>CleanupToxic</c>: only <c>timeout</c>).</summary>
    public virtual bool ClosesOnRemove => false;

    /// <summary>Whether connections opened while the toxic exists get SO_LINGER 0, so a close is an RST (<c>reset_peer</c>).</summary>
    public virtual bool ResetsOnClose => false;

    /// <summary>
    /// Moves chunks from the stub's input to its output until end of stream (then <see cref="ToxicStub.Close"/>) or until
    /// <paramref name="interrupt"/> fires (then return, keeping no chunk: a chunk in hand is written out first).
    /// </summary>
    public abstract Task PipeAsync(ToxicStub stub, CancellationToken interrupt);

    protected long this[int index] => _values[index];

    public Toxic Clone()
    {
        var copy = (Toxic)MemberwiseClone();
        copy._values = (long[])_values.Clone();
        return copy;
    }

    /// <summary>Writes <c>{"name":value,…}</c> in declaration order, as Go marshals the toxic struct.</summary>
    public void WriteAttributes(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        for (int i = 0; i < _names.Length; i++) writer.WriteNumber(_names[i], _values[i]);
        writer.WriteEndObject();
    }

    /// <summary>
    /// Decodes attributes over the current values, as Go's <c>json.Decode</c> into the toxic struct does: unknown keys are
    /// ignored, keys match case-insensitively, null leaves a value alone, and a non-integer is a "bad request body".
    /// </summary>
    public void ReadAttributes(JsonElement attributes)
    {
        if (attributes.ValueKind == JsonValueKind.Null) return;
        if (attributes.ValueKind != JsonValueKind.Object)
            throw ApiException.BadRequestBody($"json: cannot unmarshal {GoKind(attributes)} into Go struct field .attributes of type toxics.{GoTypeName}");
        foreach (var property in attributes.EnumerateObject())
        {
            int index = Array.IndexOf(_names, property.Name);
            if (index < 0) index = Array.FindIndex(_names, n => string.Equals(n, property.Name, StringComparison.OrdinalIgnoreCase));
            if (index < 0 || property.Value.ValueKind == JsonValueKind.Null) continue;
            if (property.Value.ValueKind != JsonValueKind.Number || !property.Value.TryGetInt64(out long value))
            {
                string what = property.Value.ValueKind == JsonValueKind.Number ? "number " + property.Value.GetRawText() : GoKind(property.Value);
                throw ApiException.BadRequestBody($"json: cannot unmarshal {what} into Go struct field {GoTypeName}.attributes.{_names[index]} of type int64");
            }
            _values[index] = value;
        }
    }

    private string GoTypeName => string.Concat(Type.Split('_').Select(p => char.ToUpperInvariant(p[0]) + p[1..])) + "Toxic";

    internal static string GoKind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "string",
        JsonValueKind.Array => "array",
        JsonValueKind.Object => "object",
        JsonValueKind.True or JsonValueKind.False => "bool",
        _ => "number",
    };

    /// <summary>Toxiproxy 2.x's registered toxic types (<c>toxics.New</c>); null for an unknown type.</summary>
    public static Toxic? Create(string type) => type switch
    {
        "latency" => new LatencyToxic(),
        "bandwidth" => new BandwidthToxic(),
        "slow_close" => new SlowCloseToxic(),
        "timeout" => new TimeoutToxic(),
        "reset_peer" => new ResetPeerToxic(),
        "slicer" => new SlicerToxic(),
        "limit_data" => new LimitDataToxic(),
        "noop" => new NoopToxic(),
        _ => null,
    };
}

/// <summary>A toxic as the API sees it: name, type, stream, toxicity and the current attributes.</summary>
internal sealed class ToxicSpec(string name, string stream, Direction direction, float toxicity, Toxic toxic)
{
    public string Name { get; } = name;

    /// <summary>The stream as the client spelled it (parsed case-insensitively into <see cref="Direction"/>).</summary>
    public string Stream { get; } = stream;

    public Direction Direction { get; } = direction;

    public float Toxicity { get; set; } = toxicity;

    public Toxic Toxic { get; set; } = toxic;

    /// <summary><c>{"attributes":{…},"name","type","stream","toxicity"}</c>, the field order of Go's <c>ToxicWrapper</c>.</summary>
    public void WriteJson(Utf8JsonWriter writer)
    {
        var toxic = Toxic; // one consistent snapshot even if an update swaps it meanwhile
        writer.WriteStartObject();
        writer.WritePropertyName("attributes");
        toxic.WriteAttributes(writer);
        writer.WriteString("name", Name);
        writer.WriteString("type", toxic.Type);
        writer.WriteString("stream", Stream);
        writer.WriteNumber("toxicity", Toxicity);
        writer.WriteEndObject();
    }
}
