using Spectre.Console;

namespace Dtx.Harness.Cli;

/// <summary>
/// The run's lines on the console, each with its time. In a terminal, the progress of the phase under way (the load's
/// counts, the drain's doubt) is one status line at the bottom, rewritten in place every second while the other
/// lines scroll above it; redirected to a file, or in CI, the progress is a plain line every few seconds instead, so
/// that a log stays readable. Every write holds one lock: the nemesis, the load and the drain say things concurrently.
/// </summary>
public sealed class ConsoleLines
{
    private readonly IAnsiConsole _console;
    private readonly object _gate = new();
    private string? _status;

    public ConsoleLines(IAnsiConsole console, bool? live = null)
    {
        _console = console;
        // Spectre says a console is not interactive when its output is redirected or a CI variable is set.
        Live = live ?? (console.Profile.Capabilities.Interactive && console.Profile.Capabilities.Ansi && !Console.IsOutputRedirected);
    }

    /// <summary>Whether progress is a status line rewritten in place (a terminal) rather than plain lines.</summary>
    public bool Live { get; }

    /// <summary>How often the progress is said: every second in place, every five seconds as lines.</summary>
    public TimeSpan ProgressEvery => Live ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(5);

    /// <summary>A line that stays: a phase, a fault, a verdict.</summary>
    public void Say(string line)
    {
        lock (_gate)
        {
            Clear();
            _console.MarkupLine($"[grey]{DateTime.Now:HH:mm:ss}[/] {Markup.Escape(line)}");
            Draw();
        }
    }

    /// <summary>The progress of the phase under way; null ends it (the line goes).</summary>
    public void Progress(string? line)
    {
        if (!Live)
        {
            if (line is not null) Say(line);
            return;
        }
        lock (_gate)
        {
            Clear();
            _status = line;
            Draw();
        }
    }

    // The status line is the last on the screen and has no newline: a carriage return and erase-line remove it.
    private void Clear()
    {
        if (Live && _status is not null) _console.Write(new ControlCode("\r\u001b[2K"));
    }

    private void Draw()
    {
        if (!Live || _status is null) return;
        // Cut to the terminal's width: a wrapped status line could not be erased by one erase-line.
        var width = Math.Max(20, _console.Profile.Width - 1);
        var text = _status.Length > width ? _status[..(width - 1)] + "…" : _status;
        _console.Markup($"[blue]{Markup.Escape(text)}[/]");
    }
}
