using Xunit;
using YamlDotNet.RepresentationModel;

namespace Dtx.Tests.Scenarios;

/// <summary>
/// The nightly workflow, checked the way actionlint would check what matters here (actionlint itself is not on this
/// machine): GitHub's keys only, every job on a runner with steps that either use a pinned action or run a command,
/// a schedule GitHub can read — and every command one the README gives, so CI runs what users run.
/// </summary>
public sealed class WorkflowTests
{
    // The repository the tests were built from: the parent of its reports/ folder.
    private static readonly string Root = Path.GetDirectoryName(Dtx.Harness.Cli.ReportsFolder.Default())!;
    private static readonly string[] TopKeys = ["name", "on", "jobs", "env", "permissions", "concurrency", "defaults", "run-name"];
    private static readonly string[] Triggers = ["schedule", "workflow_dispatch", "push", "pull_request"];
    private static readonly string[] JobKeys = ["name", "if", "runs-on", "container", "timeout-minutes", "steps", "needs", "env", "permissions", "strategy", "services", "defaults", "continue-on-error"];
    private static readonly string[] StepKeys = ["name", "id", "if", "uses", "run", "with", "env", "shell", "working-directory", "timeout-minutes", "continue-on-error"];

    [Fact]
    public void The_nightly_workflow_is_well_formed_and_runs_only_the_READMEs_commands()
    {
        var path = Path.Combine(Root, ".github", "workflows", "nightly.yml");
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(path)));
        var root = Assert.IsType<YamlMappingNode>(stream.Documents.Single().RootNode);
        AssertKeys(root, TopKeys, "the workflow");

        var on = Assert.IsType<YamlMappingNode>(root["on"]);
        AssertKeys(on, Triggers, "on");
        foreach (var entry in Assert.IsType<YamlSequenceNode>(on["schedule"]))
        {
            var cron = Scalar(((YamlMappingNode)entry)["cron"]);
            Assert.Equal(5, cron.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length);
        }

        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        var jobs = Assert.IsType<YamlMappingNode>(root["jobs"]);
        Assert.Contains(jobs.Children.Keys, k => Scalar(k) == "catalogue");
        Assert.Contains(jobs.Children.Keys, k => Scalar(k) == "tests");
        var commands = new List<string>();
        foreach (var (name, node) in jobs.Children)
        {
            var job = Assert.IsType<YamlMappingNode>(node);
            AssertKeys(job, JobKeys, $"job {Scalar(name)}");
            Assert.False(string.IsNullOrWhiteSpace(Scalar(job["runs-on"])), $"job {Scalar(name)} has no runs-on");
            var steps = Assert.IsType<YamlSequenceNode>(job["steps"]);
            Assert.NotEmpty(steps);
            foreach (var stepNode in steps)
            {
                var step = Assert.IsType<YamlMappingNode>(stepNode);
                AssertKeys(step, StepKeys, $"a step of {Scalar(name)}");
                var uses = step.Children.TryGetValue("uses", out var u) ? Scalar(u) : null;
                var run = step.Children.TryGetValue("run", out var r) ? Scalar(r) : null;
                Assert.True(uses is null != run is null, $"a step of {Scalar(name)} must either use an action or run a command");
                if (uses is not null) Assert.Matches(@"^actions/[a-z-]+(/[a-z-]+)?@v\d+$", uses);
                if (run is not null) commands.Add(run.Trim());
            }
        }
        // The nightly history: the catalogue starts from the reports folder of the nights before and keeps its own,
        // also on a night that failed.
        var catalogue = ((YamlMappingNode)jobs["catalogue"])["steps"].AllNodes.OfType<YamlMappingNode>().Where(s => s.Children.ContainsKey("uses")).ToList();
        var restore = Assert.Single(catalogue, s => Scalar(s["uses"]).StartsWith("actions/cache/restore@", StringComparison.Ordinal));
        var save = Assert.Single(catalogue, s => Scalar(s["uses"]).StartsWith("actions/cache/save@", StringComparison.Ordinal));
        Assert.Equal("reports/", Scalar(((YamlMappingNode)restore["with"])["path"]));
        Assert.Equal("reports-", Scalar(((YamlMappingNode)restore["with"])["restore-keys"]));
        Assert.Equal("reports/", Scalar(((YamlMappingNode)save["with"])["path"]));
        Assert.Equal("always()", Scalar(save["if"]));
        Assert.Equal(Scalar(((YamlMappingNode)restore["with"])["key"]), Scalar(((YamlMappingNode)save["with"])["key"]));

        // The two commands of the README, nothing else: CI must show what a user gets.
        Assert.Equal(["./run.sh scenario --all", "./test.sh"], commands.Order());
        Assert.All(commands, command => Assert.Contains(command, readme));
    }

    private static void AssertKeys(YamlMappingNode node, string[] allowed, string where)
    {
        foreach (var key in node.Children.Keys.Select(Scalar))
            Assert.True(allowed.Contains(key), $"{where}: '{key}' is not a key GitHub Actions knows here");
    }

    private static string Scalar(YamlNode node) => Assert.IsType<YamlScalarNode>(node).Value ?? "";
}
