using System.Text.Json;
using System.Text.Json.Serialization;
using Dtx.Harness.Engine;

namespace Dtx.Harness.Reporting;

/// <summary>result.json: everything about a run, camelCase, for CI scripts and for the HTML report.</summary>
public static class ResultJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>The same names on one line: a JSON Lines file (the client history) holds one object a line.</summary>
    public static readonly JsonSerializerOptions OneLine = new(Options) { WriteIndented = false };

    public static string Serialize(ScenarioResult result) => JsonSerializer.Serialize(result, Options);

    public static ScenarioResult Deserialize(string json) =>
        JsonSerializer.Deserialize<ScenarioResult>(json, Options) ?? throw new JsonException("result.json is empty");
}
