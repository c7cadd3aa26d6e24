using System.Text;

namespace Dtx.Harness.Infrastructure;

/// <summary>Reads what servers wrote to their logs, for error messages and for spotting known failures.</summary>
internal static class LogFile
{
    private const int MaxBytes = 64 * 1024;

    public static long Length(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;

    /// <summary>The text written since <paramref name="offset"/> (at most the last 64 KiB of it).</summary>
    public static string ReadFrom(string path, long offset)
    {
        if (!File.Exists(path)) return "";
        // The server still has the file open for appending; share it rather than fail.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        long start = Math.Max(offset, stream.Length - MaxBytes);
        if (start >= stream.Length) return "";
        stream.Seek(start, SeekOrigin.Begin);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    public static string Tail(string path, int lines)
    {
        string[] all = ReadFrom(path, 0).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return string.Join('\n', all.TakeLast(lines));
    }
}
