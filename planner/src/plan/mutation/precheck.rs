//! Create and update rules checked before the write, as Exograph documents them: a create
//! rule is evaluated on the input rows, an update rule on the input alone and on each targeted
//! row with the new values laid over it. What the input does not determine (a key the
//! database generates; for the input alone, every column it does not set) is left out of the
//! comparisons, as in Exograph. Relation paths in the rules (`self.chat.participants.some(...)`)
//! read the database as it is before the write, so a row can never authorize itself (a
//! membership whose rule asks for a membership); only a new row's own collections are the
//! rows its input nests there. The check is its own statement, run before the write in the
//! same transaction: a refusal writes nothing, and a refused create of an existing key answers
//! "Not authorized" rather than a duplicate-key failure. Nested rows are checked in the same
//! statement: under a row the mutation creates (held as it would be written), or under the
//! rows an update targets, as they are.

use exo_ir::graphql::ArgRole;
use exo_ir::{AccessExpr, AccessOperand, ColumnId, Entity, EntityId, FieldDefault, FieldKind};

use crate::error::GqlError;
use crate::plan::access::{json_param_text, literal_json, Cond};
use crate::plan::field_access::{not_authorized, FieldUse};
use crate::plan::{param_in, InputChildren, ParamSource, Planner, Step};
use crate::sql::{self, Body, Cast, Cte, Expr, Ident, Query, Select};
use crate::validate::Selected;
use crate::value::Val;

/// What a pseudo-row holds for the columns the input does not set.
#[derive(Clone, Copy)]
enum Rest<'a> {
    /// The model's defaults (a create).
    Defaults,
    /// The existing row at this alias (an update).
    Existing(Ident<'a>),
    /// Nothing known (an update's input on its own).
    Unknown,
}

/// Whether `rule` has a `self.<field>.some(...)`.
fn some_over(rule: &AccessExpr, field: u32) -> bool {
    match rule {
        AccessExpr::Const(_) | AccessExpr::Cmp { .. } => false,
        AccessExpr::Not(e) => some_over(e, field),
        AccessExpr::And(l, r) | AccessExpr::Or(l, r) => some_over(l, field) || some_over(r, field),
        AccessExpr::Some { collection, body, .. } => {
            matches!(collection, AccessOperand::SelfPath(p) if p.len() == 1 && p[0].field == field)
                || some_over(body, field)
        }
    }
}

/// `NOT COALESCE(rule, false)`: the rule is false or unknown.
fn violated(rule: Expr<'_>) -> Expr<'_> {
    sql::not(sql::func("COALESCE", vec![rule, Expr::Bool(false)]))
}

impl<'a, 'd> Planner<'a, 'd> {
    /// Every column of `e`'s table as it would be written, named as the table names it: the
    /// input's value, else the existing row's ([`Rest::Existing`], for an update), else the
    /// model's default (a literal, an enum value, the current time), else a typed `NULL` (a
    /// value the database generates, such as a serial key or a random UUID, is not known
    /// before the write: see [`Self::generated_columns`]).
    fn pseudo_row(
        &mut self,
        e: &'a Entity,
        mut cols: Vec<(ColumnId, Expr<'a>)>,
        rest: Rest<'a>,
    ) -> Vec<sql::SelectItem<'a>> {
        let table = self.ir.table(e.table);
        let mut items = Vec::with_capacity(table.columns.len());
        for c in 0..table.columns.len() as ColumnId {
            let null = || sql::cast(Expr::Null, Cast::of_column(&table.columns[c as usize].ty));
            let expr = match cols.iter().position(|(x, _)| *x == c) {
                Some(i) => cols.swap_remove(i).1,
                None => match rest {
                    Rest::Existing(b) => self.column(b, e.table, c),
                    Rest::Defaults => self.default_value(e, c).unwrap_or_else(null),
                    Rest::Unknown => null(),
                },
            };
            items.push(sql::SelectItem { expr, alias: Some(Ident::Name(self.column_name(e.table, c))) });
        }
        items
    }

    /// The columns of a new row of `e` whose value the database generates (a serial key, a
    /// random UUID) and `row` does not give: not known before the write, so a rule's
    /// comparison with one is left out ([`Planner::unknown`]), as Exograph leaves out what the
    /// input does not determine.
    fn generated_columns(&self, e: &'a Entity, row: &Val) -> Vec<ColumnId> {
        let given = row.as_object().unwrap_or(&[]);
        e.fields
            .iter()
            .filter_map(|f| match (&f.kind, &f.default) {
                (
                    FieldKind::Column { column, .. },
                    Some(
                        FieldDefault::AutoIncrement { .. }
                        | FieldDefault::GenerateUuid
                        | FieldDefault::UuidV4
                        | FieldDefault::UuidV7,
                    ),
                ) if !given.iter().any(|(k, _)| *k == f.name) => Some(*column),
                _ => None,
            })
            .collect()
    }

    /// For a create's row at alias `a`: the rows its input gives each one-to-many field (none
    /// when the field is absent: a new row has no other related rows), as pseudo-rows, so
    /// that `.some(...)` over the field looks at them ([`Planner::input_children`]). A
    /// child's reference to the new row is not known before the write.
    fn input_children(
        &mut self,
        entity: EntityId,
        a: Ident<'a>,
        row: &Val,
        sel: &'a Selected<'_>,
    ) -> Result<(), GqlError> {
        let e = self.ir.entity(entity);
        let given = row.as_object().unwrap_or(&[]);
        for (fid, f) in e.fields.iter().enumerate() {
            let FieldKind::OneToMany { target, inverse, .. } = &f.kind else {
                continue;
            };
            let t = self.ir.entity(*target);
            let FieldKind::ManyToOne { columns, .. } = &t.fields[*inverse as usize].kind else {
                continue;
            };
            if !some_over(&e.access.create, fid as u32) {
                // Pseudo-rows (and their aliases) only for collections the rule looks at.
                continue;
            }
            let value = given.iter().find(|(k, _)| *k == f.name).map(|(_, v)| v);
            let mut rows = vec![];
            for item in super::items(value) {
                let b = self.alias(t);
                let mut unknown = self.generated_columns(t, item);
                unknown.extend(columns.iter().copied());
                self.unknown.extend(unknown.into_iter().map(|c| (b, c)));
                let input = self.row_columns(*target, item, true, &[*inverse], sel)?;
                let items = self.pseudo_row(t, input.cols, Rest::Defaults);
                rows.push((b, Query::select(Select { items, ..Select::default() })));
            }
            self.input_children.push(InputChildren { parent: a, field: fid as u32, target: *target, rows });
        }
        Ok(())
    }

    /// The value the model's default gives column `c`, when it is known before the write.
    fn default_value(&mut self, e: &'a Entity, c: ColumnId) -> Option<Expr<'a>> {
        let (sql, default) = e.fields.iter().find_map(|f| match &f.kind {
            FieldKind::Column { column, sql, .. } if *column == c => Some((sql, f.default.as_ref()?)),
            _ => None,
        })?;
        let text = match default {
            FieldDefault::Literal(l) => json_param_text(&literal_json(l))?,
            FieldDefault::EnumVariant(v) => v.clone(),
            FieldDefault::Now => {
                let ty = &self.ir.table(e.table).columns[c as usize].ty;
                return Some(sql::cast(sql::func("now", vec![]), Cast::of_column(ty)));
            }
            _ => return None,
        };
        let p = self.param(ParamSource::Const(Some(text)));
        Some(param_in(&sql.param, p))
    }

    /// `[WITH <ctes>] SELECT COUNT(*)::text FROM (<branches> UNION ALL ...) AS checked`, or
    /// `None` when nothing needs checking (the aliases taken since `start` are handed back).
    fn count_violations(&mut self, start: u32, ctes: Vec<Cte<'a>>, branches: Vec<Select<'a>>) -> Option<Step> {
        if branches.is_empty() {
            self.aliases = start;
            return None;
        }
        let rows = Query { with: vec![], body: Body::UnionAll(branches) };
        let mut q = Query::select(Select::new(
            vec![sql::cast(sql::func("COUNT", vec![Expr::Star]), Cast::Text)],
            sql::From::Subquery { query: Box::new(rows), alias: Ident::Plain("checked") },
        ));
        q.with = ctes;
        Some(Step::Check(self.statement(&q)))
    }

    /// The check before `createT`/`createTs`: each input row, as it would be written, must
    /// meet the type's create rule and the create rules of the fields it names; so must the
    /// rows nested in it ([`Self::created_children_prechecks`]). `None` when the context alone
    /// allows every row.
    pub(super) fn create_precheck(
        &mut self,
        entity: EntityId,
        rows: &[&Val],
        sel: &'a Selected<'_>,
    ) -> Result<Option<Step>, GqlError> {
        let e = self.ir.entity(entity);
        let start = self.aliases;
        let mut branches = vec![];
        let mut ctes = vec![];
        for row in rows {
            let mark = self.aliases;
            let a = self.alias(e);
            let rule = self.created_row_rule(entity, a, row, sel)?;
            match rule {
                // No statement uses the alias: give it back, so plans without a check keep
                // their names.
                Cond::True => self.aliases = mark,
                Cond::False => return Err(not_authorized()),
                Cond::Sql(rule) => {
                    let input = self.row_columns(entity, row, true, &[], sel)?;
                    let items = self.pseudo_row(e, input.cols, Rest::Defaults);
                    let written = Query::select(Select { items, ..Select::default() });
                    branches.push(
                        Select::new(vec![Expr::Int(1)], sql::From::Subquery { query: Box::new(written), alias: a })
                            .filter(violated(rule)),
                    );
                }
            }
            let input = self.row_columns(entity, row, true, &[], sel)?;
            if !input.nested.is_empty() {
                let p = self.alias(e);
                let items = self.pseudo_row(e, input.cols, Rest::Defaults);
                ctes.push(Cte { name: p, query: Query::select(Select { items, ..Select::default() }) });
                self.created_children_prechecks(&mut ctes, &mut branches, entity, p, &input.nested, sel)?;
            }
        }
        self.pseudo.clear();
        Ok(self.count_violations(start, ctes, branches))
    }

    /// The create rule of a new row at alias `a` (with the create rules of the fields its
    /// input names): comparisons with the values the database generates left out, and
    /// `.some(...)` over its own collections looking at the rows its input nests there.
    fn created_row_rule(
        &mut self,
        entity: EntityId,
        a: Ident<'a>,
        row: &Val,
        sel: &'a Selected<'_>,
    ) -> Result<Cond<'a>, GqlError> {
        let e = self.ir.entity(entity);
        let unknown = self.generated_columns(e, row);
        self.unknown.extend(unknown.into_iter().map(|c| (a, c)));
        self.input_children(entity, a, row, sel)?;
        let rule = self.access(&e.access.create, entity, a);
        let fields = self.input_rule(entity, a, row, FieldUse::Create);
        self.unknown.clear();
        self.input_children.clear();
        Ok(rule.and(fields?))
    }

    /// The checks of the rows nested in creation input under a row the same mutation creates,
    /// held as it would be written by the one-row CTE `p`: each child, as it would be written
    /// (its foreign key the parent's key, null when the database generates it), must meet its
    /// create rule and the create rules of the fields it names, with rule paths through its
    /// parent reading `p` ([`Planner::pseudo`]) and everything else the database before the
    /// write (a new parent has no children yet, so no nested row authorizes itself or a
    /// sibling). Its own nested rows are checked the same way under it.
    fn created_children_prechecks(
        &mut self,
        ctes: &mut Vec<Cte<'a>>,
        branches: &mut Vec<Select<'a>>,
        parent: EntityId,
        p: Ident<'a>,
        nested: &[(u32, &Val)],
        sel: &'a Selected<'_>,
    ) -> Result<(), GqlError> {
        for &(field, value) in nested {
            let (target, inverse) = self.collection(parent, field)?;
            let te = self.ir.entity(target);
            let skip = self.back_references(target, parent, inverse);
            for row in super::items(Some(value)) {
                let a = self.alias(te);
                self.pseudo.push((a, inverse, p));
                match self.created_row_rule(target, a, row, sel)? {
                    Cond::True => {}
                    Cond::False => return Err(not_authorized()),
                    Cond::Sql(rule) => {
                        let mut input = self.row_columns(target, row, true, &skip, sel)?;
                        self.take_parent_key(target, inverse, p, &mut input.cols)?;
                        let items = self.pseudo_row(te, input.cols, Rest::Defaults);
                        let written =
                            Query::select(Select { items, from: Some(sql::From::Named(p)), ..Select::default() });
                        branches.push(
                            Select::new(vec![Expr::Int(1)], sql::From::Subquery { query: Box::new(written), alias: a })
                                .filter(violated(rule)),
                        );
                    }
                }
                let mut input = self.row_columns(target, row, true, &skip, sel)?;
                if !input.nested.is_empty() {
                    self.take_parent_key(target, inverse, p, &mut input.cols)?;
                    let c = self.alias(te);
                    let items = self.pseudo_row(te, input.cols, Rest::Defaults);
                    ctes.push(Cte {
                        name: c,
                        query: Query::select(Select { items, from: Some(sql::From::Named(p)), ..Select::default() }),
                    });
                    self.pseudo.push((c, inverse, p));
                    self.created_children_prechecks(ctes, branches, target, c, &input.nested, sel)?;
                }
            }
        }
        Ok(())
    }

    /// The check before `updateT`/`updateTs`, in two parts. The input on its own must meet the
    /// update rule, comparisons with what it does not set left out (as Exograph checks it;
    /// assigning an issue to someone the rule does not allow is refused even when the row
    /// itself is not the caller's to update). And every row the update targets (already
    /// passing the update rule as it is) must meet the update rule with the new values laid
    /// over it. The rows its nested input writes under those rows must meet their own rules
    /// ([`Self::nested_prechecks`]). `None` when nothing needs checking (no column set and no
    /// nested rows, or the context alone allows it all).
    pub(super) fn update_precheck(
        &mut self,
        entity: EntityId,
        many: bool,
        data: &Val,
        sel: &'a Selected<'_>,
    ) -> Result<Option<Step>, GqlError> {
        let e = self.ir.entity(entity);
        // Without a check no statement uses these aliases: they are given back, so plans
        // without a check keep their names.
        let start = self.aliases;
        let b = self.alias(e);
        let target = self.update_targets(entity, b, many, data, sel)?;
        let input = self.row_columns(entity, data, false, &[], sel)?;
        let nested = input.nested;
        let mut branches = vec![];
        if !input.cols.is_empty() {
            let a = self.alias(e);
            match self.access(&e.access.update, entity, a) {
                Cond::True => {}
                Cond::False => return Err(not_authorized()),
                Cond::Sql(rule) => {
                    let set: Vec<ColumnId> = input.cols.iter().map(|(c, _)| *c).collect();
                    let items = self.pseudo_row(e, input.cols, Rest::Existing(b));
                    let written = Query::select(Select {
                        items,
                        from: Some(sql::table(self.table_name(e.table), b)),
                        filter: Some(target.into_expr()),
                        ..Select::default()
                    });
                    let mark = self.aliases;
                    let c = self.alias(e);
                    let columns = self.ir.table(e.table).columns.len() as ColumnId;
                    self.unknown.extend((0..columns).filter(|x| !set.contains(x)).map(|x| (c, x)));
                    let alone = self.access(&e.access.update, entity, c);
                    self.unknown.clear();
                    match alone {
                        // No statement uses the alias: given back, as above.
                        Cond::True => self.aliases = mark,
                        Cond::False => return Err(not_authorized()),
                        Cond::Sql(s) => {
                            let input = self.row_columns(entity, data, false, &[], sel)?;
                            let items = self.pseudo_row(e, input.cols, Rest::Unknown);
                            let given = Query::select(Select { items, ..Select::default() });
                            branches.push(
                                Select::new(
                                    vec![Expr::Int(1)],
                                    sql::From::Subquery { query: Box::new(given), alias: c },
                                )
                                .filter(violated(s)),
                            );
                        }
                    }
                    branches.push(
                        Select::new(vec![Expr::Int(1)], sql::From::Subquery { query: Box::new(written), alias: a })
                            .filter(violated(rule)),
                    );
                }
            }
        }
        let mut ctes = vec![];
        if !nested.is_empty() {
            // The targeted rows as they are: the parents of the nested rows.
            let p = self.alias(e);
            let target = self.update_targets(entity, p, many, data, sel)?;
            let parents = self.alias(e);
            ctes.push(Cte {
                name: parents,
                query: Query::select(
                    Select::new(vec![Expr::AllColumns(p)], sql::table(self.table_name(e.table), p))
                        .filter(target.into_expr()),
                ),
            });
            self.nested_prechecks(&mut ctes, &mut branches, entity, parents, &nested, sel)?;
        }
        Ok(self.count_violations(start, ctes, branches))
    }

    /// The checks of update input's nested rows under the parent rows of `pcte` (rows that
    /// exist before the write): each created child, as it would be written under each parent
    /// (its foreign key the parent's key), must meet its create rule and the create rules of
    /// the fields it names; each updated child (a child of a parent, with the given key, that
    /// passes the update rule as it is) must meet the update rule with its new values laid
    /// over it, and its own nested input is checked the same way under it. Relation paths
    /// read the database before the write, so no row authorizes itself or a sibling. A
    /// nested delete needs no check: its rule is the filter of the rows it deletes. Children
    /// created under a created child are checked after the write (their parent is new).
    fn nested_prechecks(
        &mut self,
        ctes: &mut Vec<Cte<'a>>,
        branches: &mut Vec<Select<'a>>,
        parent: EntityId,
        pcte: Ident<'a>,
        nested: &[(u32, &Val)],
        sel: &'a Selected<'_>,
    ) -> Result<(), GqlError> {
        for &(field, value) in nested {
            let (target, inverse) = self.collection(parent, field)?;
            let te = self.ir.entity(target);
            for row in super::items(value.get(ArgRole::Create.name())) {
                let a = self.alias(te);
                let rule = match self.created_row_rule(target, a, row, sel)? {
                    Cond::True => continue,
                    Cond::False => return Err(not_authorized()),
                    Cond::Sql(s) => s,
                };
                let skip = self.back_references(target, parent, inverse);
                let mut input = self.row_columns(target, row, true, &skip, sel)?;
                self.take_parent_key(target, inverse, pcte, &mut input.cols)?;
                let items = self.pseudo_row(te, input.cols, Rest::Defaults);
                let written = Query::select(Select { items, from: Some(sql::From::Named(pcte)), ..Select::default() });
                branches.push(
                    Select::new(vec![Expr::Int(1)], sql::From::Subquery { query: Box::new(written), alias: a })
                        .filter(violated(rule)),
                );
            }
            for item in super::items(value.get(ArgRole::Update.name())) {
                let c = self.alias(te);
                let cond = self.child_target(target, inverse, pcte, c, &te.access.update, item)?;
                // A child whose field the caller may not write is left alone (as the write does).
                let fields = self.input_rule(target, c, item, FieldUse::Update)?;
                let cond = Cond::Sql(cond).and(fields).into_expr();
                let mut skip = te.pk.clone();
                skip.extend(self.back_references(target, parent, inverse));
                let input = self.row_columns(target, item, false, &skip, sel)?;
                let children = self.alias(te);
                ctes.push(Cte {
                    name: children,
                    query: Query::select(
                        Select::new(vec![Expr::AllColumns(c)], sql::table(self.table_name(te.table), c)).filter(cond),
                    ),
                });
                if !input.cols.is_empty() {
                    let a = self.alias(te);
                    match self.access(&te.access.update, target, a) {
                        Cond::True => {}
                        Cond::False => return Err(not_authorized()),
                        Cond::Sql(rule) => {
                            let items = self.pseudo_row(te, input.cols, Rest::Existing(children));
                            let written = Query::select(Select {
                                items,
                                from: Some(sql::From::Named(children)),
                                ..Select::default()
                            });
                            branches.push(
                                Select::new(
                                    vec![Expr::Int(1)],
                                    sql::From::Subquery { query: Box::new(written), alias: a },
                                )
                                .filter(violated(rule)),
                            );
                        }
                    }
                }
                self.nested_prechecks(ctes, branches, target, children, &input.nested, sel)?;
            }
        }
        Ok(())
    }

    /// The rows an update writes, at alias `a`: the update rule on the row as it is, the keys
    /// or the `where` filter, and the update rules of the fields the input names (a row whose
    /// field the caller may not write is left alone).
    pub(super) fn update_targets(
        &mut self,
        entity: EntityId,
        a: Ident<'a>,
        many: bool,
        data: &Val,
        sel: &'a Selected<'_>,
    ) -> Result<Cond<'a>, GqlError> {
        let e = self.ir.entity(entity);
        let cond = self.targeted_rows(entity, a, &e.access.update, many, sel)?;
        let fields = self.input_rule(entity, a, data, FieldUse::Update)?;
        Ok(cond.and(fields))
    }
}

impl<'a, 'd> Planner<'a, 'd> {
    /// The check, before the write, that every row a mutation's input refers to
    /// (`author: {id: 2}`, at any depth of nested input) is one the caller may read: a
    /// statement counting the references that name no such row. A row hidden from the caller
    /// and a row that does not exist get the same answer ("Not authorized"), and nothing is
    /// written (no sequence value used) when it is refused. References to a type everyone may
    /// read are not checked (the foreign key answers for a missing row). `None` when nothing
    /// needs checking. `rows` are create input (`creating`) or update input.
    pub(super) fn reference_precheck(
        &mut self,
        entity: EntityId,
        rows: &[&Val],
        creating: bool,
    ) -> Result<Option<Step>, GqlError> {
        let start = self.aliases;
        let mut branches = vec![];
        for row in rows {
            self.reference_branches(entity, row, creating, false, &mut branches)?;
        }
        Ok(self.count_violations(start, vec![], branches))
    }

    fn reference_branches(
        &mut self,
        entity: EntityId,
        row: &Val,
        creating: bool,
        keyed: bool,
        branches: &mut Vec<Select<'a>>,
    ) -> Result<(), GqlError> {
        let ir = self.ir;
        let e = ir.entity(entity);
        for (k, v) in row.as_object().unwrap_or(&[]) {
            let Some((fid, f)) = e.field_by_name(k) else { continue };
            // The key of a row nested update input names (`keyed`) finds the row; it is not
            // written.
            if v.is_null() || (keyed && e.pk.contains(&fid)) {
                continue;
            }
            match &f.kind {
                FieldKind::ManyToOne { target, target_columns, .. } => {
                    let t = ir.entity(*target);
                    let b = self.alias(t);
                    let rule = match self.read_access(&t.access.query, *target, b) {
                        Cond::True => continue,
                        Cond::False => return Err(not_authorized()),
                        Cond::Sql(s) => s,
                    };
                    let keys = self.reference_key(*target, target_columns, v)?;
                    let mut filter: Vec<Expr<'a>> = target_columns
                        .iter()
                        .zip(keys)
                        .map(|(tc, key)| sql::eq(self.column(b, t.table, *tc), key))
                        .collect();
                    filter.push(rule);
                    let exists = sql::exists(Query::select(
                        Select::new(vec![Expr::Int(1)], sql::table(self.table_name(t.table), b))
                            .filter(sql::and(filter)),
                    ));
                    branches.push(
                        Select { items: vec![sql::item(Expr::Int(1))], ..Select::default() }.filter(sql::not(exists)),
                    );
                }
                FieldKind::OneToMany { target, .. } if creating => {
                    for item in super::items(Some(v)) {
                        self.reference_branches(*target, item, true, false, branches)?;
                    }
                }
                FieldKind::OneToMany { target, .. } => {
                    for item in super::items(v.get(ArgRole::Create.name())) {
                        self.reference_branches(*target, item, true, false, branches)?;
                    }
                    for item in super::items(v.get(ArgRole::Update.name())) {
                        self.reference_branches(*target, item, false, true, branches)?;
                    }
                }
                FieldKind::Column { .. } => {}
            }
        }
        Ok(())
    }
}
