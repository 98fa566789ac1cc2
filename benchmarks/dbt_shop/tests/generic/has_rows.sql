{# millpond.quality.basic.row_count_between(min=1): one row when the table is empty #}
{% test has_rows(model) %}
select count(*) as row_count from {{ model }} having count(*) < 1
{% endtest %}
