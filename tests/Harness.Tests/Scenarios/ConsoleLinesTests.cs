using Dtx.Harness.Cli;
using Spectre.Console;
using Xunit;

namespace Dtx.Tests.Scenarios;

/// <summary>The run's console: in a terminal the progress is one line rewritten in place under the lines that stay; in a log it is plain lines.</summary>
public sealed class ConsoleLinesTests
{
    private static (IAnsiConsole Console, StringWriter Out) Terminal(bool ansi)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = ansi ? AnsiSupport.Yes : AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = ansi ? InteractionSupport.Yes : InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 60;
        return (console, writer);
    }

    [Fact]
    public void In_a_terminal_the_progress_is_rewritten_in_place_and_other_lines_scroll_above_it()
    {
        var (console, output) = Terminal(ansi: true);
        var lines = new ConsoleLines(console, live: true);

        lines.Progress("load 1s of 16s: 40 requested");
        lines.Say("initiator crashed at initiator.after-commit at 2.0s");
        lines.Progress("load 2s of 16s: 80 requested, " + new string('x', 100));
        lines.Progress(null);
        lines.Say("drain converged");

        const string erase = "\r\u001b[2K";
        var text = output.ToString();
        // Each rewrite erases the status first; the fault line then stays, and the status comes back under it.
        var crash = text.IndexOf("initiator crashed", StringComparison.Ordinal);
        Assert.True(text.LastIndexOf(erase, crash, StringComparison.Ordinal) > text.IndexOf("load 1s of 16s", StringComparison.Ordinal));
        Assert.True(text.IndexOf("load 1s of 16s", crash, StringComparison.Ordinal) > crash, "the status is drawn again under the line that stays");
        // A status wider than the terminal is cut, or erasing one line would leave its wrapped rest behind.
        Assert.Contains("80 requested, xxxx", text);
        Assert.DoesNotContain(new string('x', 60), text);
        // Ended: erased, and not drawn again under the next line.
        Assert.DoesNotContain("load 2s", text[text.IndexOf("drain converged", StringComparison.Ordinal)..]);
        Assert.Equal(TimeSpan.FromSeconds(1), lines.ProgressEvery);
    }

    [Fact]
    public void In_a_log_the_progress_is_plain_lines_without_control_codes()
    {
        var (console, output) = Terminal(ansi: false);
        var lines = new ConsoleLines(console, live: false);

        lines.Progress("load 5s of 16s: 200 requested");
        lines.Progress(null);
        lines.Say("drain converged");

        var written = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, written.Length);
        Assert.Matches(@"^\d\d:\d\d:\d\d load 5s of 16s: 200 requested$", written[0].TrimEnd());
        Assert.DoesNotContain('\u001b', output.ToString());
        Assert.Equal(TimeSpan.FromSeconds(5), lines.ProgressEvery);
    }
}
