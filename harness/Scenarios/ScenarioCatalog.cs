namespace Dtx.Harness.Scenarios;

/// <summary>The scenarios shipped under scenarios/ (copied next to the harness binary), found by name or by path.</summary>
public static class ScenarioCatalog
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "scenarios");

    public static IReadOnlyList<string> Names() =>
        Directory.Exists(Folder)
            ? Directory.GetFiles(Folder, "*.yaml").Select(Path.GetFileNameWithoutExtension).OfType<string>().Order().ToList()
            : [];

    public static Scenario Find(string nameOrPath)
    {
        if (nameOrPath.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || nameOrPath.Contains('/'))
            return File.Exists(nameOrPath)
                ? ScenarioFile.Load(nameOrPath)
                : throw new ScenarioException($"no scenario file at {nameOrPath}");
        var path = Path.Combine(Folder, nameOrPath + ".yaml");
        if (!File.Exists(path))
            throw new ScenarioException($"unknown scenario '{nameOrPath}'; known: {string.Join(", ", Names())}");
        return ScenarioFile.Load(path);
    }
}
