using System.Globalization;
using System.Xml.Linq;
using Dtx.Harness.Checking;
using Dtx.Harness.Engine;

namespace Dtx.Harness.Reporting;

/// <summary>junit.xml: one test case per scenario × implementation × invariant, so CI dashboards show which one broke.</summary>
public static class JUnitReport
{
    public static XDocument Build(ScenarioResult result)
    {
        var cases = result.Runs.SelectMany(run => run.Error is not null
            ? [new XElement("testcase", new XAttribute("classname", $"{result.Scenario}.{run.Implementation}"), new XAttribute("name", "run"),
                new XElement("error", new XAttribute("message", run.Error)))]
            : run.Invariants.Select(invariant => new XElement("testcase",
                new XAttribute("classname", $"{result.Scenario}.{run.Implementation}"),
                new XAttribute("name", invariant.Name),
                run.Verdict == Verdict.NotApplicable ? new XElement("skipped", new XAttribute("message", "no fault of this scenario applies to " + run.Implementation)) :
                invariant.Ok ? null :
                run.Expected?.Contains(invariant.Name) == true ? new XElement("system-out", $"violated as the scenario expects: {invariant.Violations} violation(s), e.g. {string.Join(", ", invariant.Examples)}") :
                new XElement("failure",
                    new XAttribute("message", $"{invariant.Violations} violation(s)"),
                    $"{invariant.Description}\nexamples: {string.Join(", ", invariant.Examples)}")))
                // What the run proved beyond the invariants: its faults fired, nothing died unplanned, the load made progress.
                .Append(new XElement("testcase",
                    new XAttribute("classname", $"{result.Scenario}.{run.Implementation}"),
                    new XAttribute("name", "faults-and-progress"),
                    run.Verdict == Verdict.NotApplicable ? new XElement("skipped", new XAttribute("message", "no fault of this scenario applies to " + run.Implementation)) :
                    run.Verdict is Verdict.Pass or Verdict.FailedAsExpected || run.Reasons.All(r => run.Invariants.Any(i => !i.Ok && r.StartsWith(i.Name, StringComparison.Ordinal))) ? null :
                    new XElement("failure", new XAttribute("message", string.Join("; ", run.Reasons)))))).ToList();
        return new XDocument(new XElement("testsuites",
            new XElement("testsuite",
                new XAttribute("name", result.Scenario),
                new XAttribute("tests", cases.Count),
                new XAttribute("failures", cases.Count(c => c.Element("failure") is not null)),
                new XAttribute("errors", cases.Count(c => c.Element("error") is not null)),
                new XAttribute("skipped", cases.Count(c => c.Element("skipped") is not null)),
                new XAttribute("time", result.DurationSeconds.ToString("0.###", CultureInfo.InvariantCulture)),
                cases)));
    }
}
