using Npgsql;

namespace Dtx.Harness.Implementations;

internal static class Sql
{
    public static async Task<long> ScalarAsync(NpgsqlDataSource db, string sql, CancellationToken ct)
    {
        await using var command = db.CreateCommand(sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync(ct) ?? 0L);
    }
}
