-- shop.gold.dim_date: one row per day from start_date to run_date
with days as (
    select cast(generate_series as date) as date
    from generate_series(timestamp '{{ var("start_date") }}', timestamp '{{ var("run_date") }}', interval 1 day)
)

select
    {{ date_key('date') }} as date_key,
    date,
    cast(year(date) as integer) as year,
    cast(month(date) as integer) as month,
    cast(day(date) as integer) as day,
    cast(isodow(date) as smallint) as weekday,
    dayname(date) as weekday_name,
    isodow(date) >= 6 as is_weekend
from days
